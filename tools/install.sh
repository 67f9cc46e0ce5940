#!/usr/bin/env bash
# Create .venv and install mmdret with its pinned stack (Python 3.10+; CPU or CUDA machines).
# mmaction2 1.2.0 goes in with --no-deps: its metadata pulls opencv-contrib-python beside
# opencv-python; requirements/runtime.txt lists what it really needs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements/runtime.txt -r requirements/tests.txt
# Optional extras (FAISS coarse search); installed so that their code path is tested too.
.venv/bin/python -m pip install -q -r requirements/optional.txt
.venv/bin/python -m pip install -q --no-deps -r requirements/mmaction.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c "import mmdret, mmaction.models; print('mmdret', mmdret.__version__, 'installed')"
