#!/usr/bin/env bash
# Shared by tools/slurm_train.sh and slurm_test.sh: run tools/SCRIPT under srun, one task per GPU.
#   bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [SCRIPT args]
# GPUS (default 4) is the total number of tasks; GPUS_PER_NODE defaults to min(GPUS, 8), more
# GPUs than that span several nodes; CPUS_PER_TASK defaults to 5; SRUN_ARGS go to srun as they
# are (e.g. "--time=24:00:00 --qos=high"); PYTHON defaults to python.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS="$(cd "$(dirname "$0")" && pwd)"
export PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086  # SRUN_ARGS is a list of srun options
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "${PYTHON:-python}" -u "$TOOLS/$SCRIPT" "${@:4}"
