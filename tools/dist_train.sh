#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# torchrun with NUM_PROCS processes on this machine (one per GPU); without CUDA they use gloo
# (see mmdret.utils.setup_cpu_distributed). The global batch is NNODES x NUM_PROCS x the config's
# per-process batch. Several machines: run the same command on each, with
#   NNODES       number of machines (default 1)
#   NODE_RANK    this machine's index, 0 .. NNODES-1 (default 0)
#   MASTER_ADDR  address of the NODE_RANK=0 machine, reachable from all (default 127.0.0.1)
#   PORT         a free port on that machine (default 29500)
# e.g. two machines with 2 GPUs each (4 processes, the DiffusionRet 4xb32 recipe):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash tools/dist_train.sh CONFIG 2   # on node0
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 bash tools/dist_train.sh CONFIG 2   # on node1
set -euo pipefail
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
export PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}"
exec python -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$NPROCS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
