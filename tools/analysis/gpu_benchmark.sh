#!/usr/bin/env bash
# DiffusionRet figures on one CUDA GPU, each written to its own section of docs/benchmarks.md
# by tools/analysis/benchmark_diffusionret.py (about 5 minutes on a data-centre GPU):
#
#   1. stage-1 training with a random-weight ViT-B/32, batch 32 x 12 frames: samples/s in fp32
#      and with bf16 autocast (same model, same run);
#   2. the 1k x 1k evaluation from features (WTI similarity + 50-step DDIM re-ranking, both
#      directions): wall time, peak device memory, rankings checked against the stored
#      reference;
#   3. the 20k x 20k evaluation from features (random, D=512, 12 frames, 32 tokens);
#   4. stage-2 training samples/s from the feature cache and from videos (ViT-B/32).
#
# Usage: bash tools/analysis/gpu_benchmark.sh [DEVICE]   (default: cuda)
# With $OUT set (a results folder), docs/benchmarks.md and the logs are copied there.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${1:-cuda}
PYTHON=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1
LOGS=${OUT:-work_dirs/gpu_benchmark}
mkdir -p "$LOGS"
bench() {
    local name=$1
    shift
    "$PYTHON" tools/analysis/benchmark_diffusionret.py --device "$DEVICE" "$@" \
        2>&1 | tee "$LOGS/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$LOGS/gpu.txt" ||
    true
bench stage1 --vit-b32 --stage1-train --skip eval --skip train --train-iters 5 \
    --docs-label "GPU: stage-1 training, ViT-B/32, fp32 vs bf16 autocast"
bench eval_1k --skip train --repeats 3 --gemm-size 8192 \
    --docs-label "GPU: 1k x 1k evaluation from features"
bench eval_20k --skip train --num-texts 20000 --num-videos 20000 --no-per-direction \
    --plain-queries -1 --gemm-size 8192 --query-chunk 256 \
    --docs-label "GPU: 20k x 20k evaluation from features"
bench stage2 --vit-b32 --skip eval --train-iters 5 \
    --docs-label "GPU: stage-2 training from the cache vs from videos, ViT-B/32"
if [ -n "${OUT:-}" ]; then
    cp docs/benchmarks.md "$OUT/"
fi
