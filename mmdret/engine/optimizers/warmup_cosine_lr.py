import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

from mmdret.registry import PARAM_SCHEDULERS


def warmup_cosine(progress, warmup):
    """Official ``warmup_cosine``: linear warm-up, then ``0.5 (1 + cos(pi x))`` on the *whole*
    horizon (not re-normalised after warm-up, so the factor jumps from 1 to ~0.976 at x=0.1).

    Args:
        progress (float): the position ``x`` in the horizon, from 0 (start) to 1 (end).
        warmup (float): the warm-up fraction of the horizon.

    Returns:
        float: the learning-rate factor: ``x / warmup`` during warm-up, else
        ``0.5 * (1 + cos(pi * x))``.
    """
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@PARAM_SCHEDULERS.register_module()
class WarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
    """The official DiffusionRet learning-rate schedule over ``[begin, end)``.

    The factor at step ``s`` is :func:`warmup_cosine` of ``x = (s - begin) / (end - begin)``;
    the first update uses lr 0 as in the official code. Use ``convert_to_iter_based=True`` with
    epoch-based ``end`` to follow the official per-iteration schedule.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        warmup_ratio (float): warm-up fraction of the horizon. Defaults to 0.1 (official).
        begin (int): first step. Defaults to 0.
        end (int): end of the horizon. Required: the default None raises ``ValueError``.
        last_step (int): the last step done, as for mmengine's schedulers; -1 for a fresh
            schedule. Defaults to -1.
        by_epoch (bool): steps are epochs. Defaults to True.
        verbose (bool): print each update. Defaults to False.
    """

    def __init__(self, optimizer, warmup_ratio=0.1, begin=0, end=None, last_step=-1,
                 by_epoch=True, verbose=False):
        if end is None:
            raise ValueError('WarmupCosineLR needs an explicit end (the schedule horizon)')
        self.warmup_ratio = warmup_ratio
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=None, by_epoch=True, epoch_length=None,
                              **kwargs):
        if not by_epoch:
            raise ValueError('build_iter_from_epoch needs by_epoch=True')
        return cls(*args, begin=int(begin * epoch_length), end=int(end * epoch_length),
                   by_epoch=False, **kwargs)

    def _get_value(self):
        progress = (self.last_step - self.begin) / (self.end - self.begin)
        factor = warmup_cosine(progress, self.warmup_ratio)
        return [group['initial_lr'] * factor for group in self.optimizer.param_groups]
