"""Find the missing and corrupt videos of any dataset config.

Reads the annotations of each split with the config's dataset class, checks that every video
exists and decodes (decord, first and last frame), prints a summary table and exits non-zero
when a video is missing or corrupt, an annotation file cannot be read, or a split size differs
from ``--expected``. The shared code is :mod:`mmdret.datasets.preparation`.

Examples::

    python tools/data/check_videos.py configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py
    python tools/data/check_videos.py configs/_base_/datasets/msrvtt_9k_1ka.py \\
        --split test --workers 8 --out work_dirs/msrvtt_check.json --expected test=1000
"""
import sys

from mmdret.datasets.preparation import main

if __name__ == '__main__':
    sys.exit(main(description=__doc__))
