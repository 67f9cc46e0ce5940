"""``python train_until_killed.py ITER TRAIN_ARGS...``: tools/train.py that kills its own process
with SIGKILL (``kill -9``: no cleanup, no final checkpoint) before training iteration ``ITER``
(1-based), on every rank."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: tool_loader

from mmengine.dist import barrier  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

from mmdret.registry import HOOKS  # noqa: E402
from tool_loader import load_tool  # noqa: E402


@HOOKS.register_module()
class SigkillHook(Hook):

    def __init__(self, iteration):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            barrier()  # rank 0 has written its checkpoint
            os.kill(os.getpid(), signal.SIGKILL)


def main(iteration, argv):
    train = load_tool('train.py')
    merge_args = train.merge_args

    def merge_with_kill(cfg, args):
        cfg = merge_args(cfg, args)
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='SigkillHook', iteration=iteration)]
        return cfg

    train.merge_args = merge_with_kill
    with train.owned_process_group():
        train.main(argv)


if __name__ == '__main__':
    main(int(sys.argv[1]), sys.argv[2:])
