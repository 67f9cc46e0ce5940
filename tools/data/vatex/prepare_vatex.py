"""Check a VATEX download on the HGR split (25,991 train, 1,500 test videos).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/vatex.py'
# Videos of the HGR split lists (Chen et al. 2020), as DITS uses them.
EXPECTED = dict(train=25991, test=1500)

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
