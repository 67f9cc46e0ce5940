#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU:
#   [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# GPUS is the total number of processes and the global batch is GPUS x the config's per-GPU
# batch: the config name's NxB gives the paper's N (4 for the DiffusionRet 4xb32 configs, 1 for
# DITS 1xb32). The variables are described in tools/slurm_launch.sh.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "Usage: bash $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/slurm_launch.sh" "$1" "$2" train.py "$3" --work-dir="$4" \
    --launcher="slurm" "${@:5}"
