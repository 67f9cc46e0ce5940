"""Check an MSVD download (CLIP4Clip split: 1,200 train, 670 test videos).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from data_tools import main  # noqa: E402

CONFIG = 'configs/_base_/datasets/msvd.py'
# Videos of train_list.txt and test_list.txt (val_list.txt, 100, is not used).
EXPECTED = dict(train=1200, test=670)

if __name__ == '__main__':
    sys.exit(main(config=CONFIG, expected=EXPECTED, description=__doc__))
