"""Check an MSR-VTT download (9k training videos, 1k-A test).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/msrvtt_9k_1ka.py'
# Videos: MSRVTT_train.9k.csv (9,000) and the JSFusion 1k-A test (1,000).
EXPECTED = dict(train=9000, test=1000)

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
