"""Check a Charades download (Charades_v1 train 7,985 / test 1,863 videos).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/charades.py'
# Videos (one script each) of Charades_v1_train.csv and Charades_v1_test.csv.
EXPECTED = dict(train=7985, test=1863)

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
