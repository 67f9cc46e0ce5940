#!/usr/bin/env bash
# One command: install into .venv, then run the demo (data generation, stage 1, stage 2, test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
HF_HUB_OFFLINE=1 .venv/bin/python tools/run_demo.py "$@"
