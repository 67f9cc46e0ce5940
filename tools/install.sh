#!/usr/bin/env bash
# Create .venv and install mmdret with the exact, known-good set of requirements/lock.txt
# (CPython 3.11+, CPU or CUDA machines; CI runs this too). To add mmdret to an environment you
# already have (your torch, mmcv, mmaction2), use `pip install -e .` instead: docs/install.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else
    "tools/install.sh: requirements/lock.txt is for CPython 3.11+, %s is %d.%d. Set PYTHON to a "
    "newer interpreter, or install with pip install -e . (docs/install.md)"
    % (sys.executable, *sys.version_info[:2]))'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Everything but mmaction2, pinned; the test runner and the optional FAISS index included, so
# that their code paths are tested too.
.venv/bin/python -m pip install -q -r requirements/lock.txt
# --no-deps: mmaction2's metadata pulls opencv-contrib-python beside opencv-python.
.venv/bin/python -m pip install -q --no-deps -r requirements/mmaction.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c "import mmdret, mmaction.models; print('mmdret', mmdret.__version__, 'installed')"
