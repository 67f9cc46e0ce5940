#!/usr/bin/env bash
# Evaluate a checkpoint on a Slurm cluster, one task per GPU:
#   [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# The test set is split across the processes; the variables are described in
# tools/slurm_launch.sh.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "Usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/slurm_launch.sh" "$1" "$2" test.py "$3" "$4" --launcher="slurm" "${@:5}"
