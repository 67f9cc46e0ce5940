"""Check a DiDeMo download (train / test, paragraph retrieval).

Checks that every annotated video exists and decodes and, where known, that the split sizes are
the paper's; ``--reencode --out-dir DIR`` also writes 3 fps, short-side-224 copies (resumable).
See the README.md next to this script.
"""
import sys
from pathlib import Path

from mmdret.datasets.preparation import main

REPO_ROOT = Path(__file__).resolve().parents[3]

CONFIG = 'configs/_base_/datasets/didemo.py'
# The papers and dataset releases give no video counts for the CLIP4Clip lists: they are only reported.
EXPECTED = dict()

if __name__ == '__main__':
    sys.exit(main(config=str(REPO_ROOT / CONFIG), expected=EXPECTED, description=__doc__))
