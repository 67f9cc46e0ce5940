"""Check a VATEX download on the HGR split (25,991 train, 1,500 test videos).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from data_tools import main  # noqa: E402

CONFIG = 'configs/_base_/datasets/vatex.py'
# Videos of the HGR split lists (Chen et al. 2020), as DITS uses them.
EXPECTED = dict(train=25991, test=1500)

if __name__ == '__main__':
    sys.exit(main(config=CONFIG, expected=EXPECTED, description=__doc__))
