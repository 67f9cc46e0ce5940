"""Check an LSMDC (LSMDC16) download: training clips and the 1000-clip public test.

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/lsmdc.py'
# Clips: the 1,000 of the public test; the papers give no training count.
EXPECTED = dict(test=1000)

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
