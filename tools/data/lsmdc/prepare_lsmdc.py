"""Check an LSMDC (LSMDC16) download: training clips and the 1000-clip public test.

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from data_tools import main  # noqa: E402

CONFIG = 'configs/_base_/datasets/lsmdc.py'
# Clips: the 1,000 of the public test; no training count is given in the specs.
EXPECTED = dict(test=1000)

if __name__ == '__main__':
    sys.exit(main(config=CONFIG, expected=EXPECTED, description=__doc__))
