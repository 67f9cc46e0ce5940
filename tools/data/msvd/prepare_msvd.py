"""Check an MSVD download (CLIP4Clip split: 1,200 train, 670 test videos).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/msvd.py'
# Videos of train_list.txt and test_list.txt (val_list.txt, 100, is not used).
EXPECTED = dict(train=1200, test=670)

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
