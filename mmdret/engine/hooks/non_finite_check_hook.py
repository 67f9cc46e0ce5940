import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict

from mmdret.registry import HOOKS
from mmdret.utils.finite import assert_finite_state_dict, describe_non_finite, non_finite_tensors

GRAD_NORM_KEY = 'train/grad_norm'


def unwrap(model):
    """The model inside a model wrapper (e.g. ``MMDistributedDataParallel``).

    Args:
        model (nn.Module): a model, wrapped or not.

    Returns:
        nn.Module: ``model.module`` for a wrapper, else ``model``.
    """
    return model.module if is_model_wrapper(model) else model


def uses_amp(optim_wrapper):
    """Whether an optimizer wrapper (or any of an ``OptimWrapperDict``) is an
    ``AmpOptimWrapper``.

    Args:
        optim_wrapper (OptimWrapper | OptimWrapperDict): the runner's optimizer wrapper.

    Returns:
        bool: True if mixed precision (with its loss scaler) is used.
    """
    wrappers = (optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict)
                else [optim_wrapper])
    return any(isinstance(wrapper, AmpOptimWrapper) for wrapper in wrappers)


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the first NaN/Inf, and refuse to evaluate non-finite weights.

    After every training iteration, before any checkpoint can be written (this hook runs before
    ``CheckpointHook``), it checks every value the model logged (each loss term), the gradient
    norm that ``OptimWrapper`` logs when ``clip_grad`` is set (not under ``AmpOptimWrapper``,
    whose loss scaler skips steps with non-finite gradients by design) and, with
    ``check_weights``, every parameter after the optimizer step. The first failure raises
    ``FloatingPointError`` naming the iteration and the term, on every rank (the verdict is
    all-reduced, so no rank waits for a peer that stopped), so the run ends without saving.

    Before validation and testing it checks the model's parameters and persistent buffers and
    raises ``ValueError`` naming the offending tensors (and ``load_from`` when testing), so that
    a diverged checkpoint cannot be scored: NaN scores tie everywhere and would rank every
    query first.

    Args:
        check_weights (bool): also check the parameters after every step (one max-abs reduction
            per parameter tensor). Defaults to True.
    """
    priority = 'VERY_HIGH'

    def __init__(self, check_weights=True):
        self.check_weights = check_weights
        self._grad_norms_seen = 0

    def _grad_norm_count(self, runner):
        buffer = runner.message_hub.log_scalars.get(GRAD_NORM_KEY)
        return 0 if buffer is None else len(buffer.data[0])

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._grad_norms_seen = self._grad_norm_count(runner)

    def _problems(self, runner, outputs):
        values = {name: torch.as_tensor(value).detach().double()
                  for name, value in (outputs or {}).items()}
        problems = [f'loss term {name!r} = {value.tolist()}' for name, value in values.items()
                    if not torch.isfinite(value).all()]
        if (self._grad_norm_count(runner) > self._grad_norms_seen
                and not uses_amp(runner.optim_wrapper)):
            grad_norm = runner.message_hub.get_scalar(GRAD_NORM_KEY).current()
            if not torch.isfinite(torch.tensor(float(grad_norm))):
                problems.append(f'gradient norm = {grad_norm}')
        if self.check_weights:
            params = [(name, p) for name, p in unwrap(runner.model).named_parameters()
                      if p.numel()]
            peaks = torch.stack([p.detach().abs().amax().float() for _, p in params])
            if not bool(torch.isfinite(peaks).all()):
                found = non_finite_tensors(params)
                problems.append('weights after the optimizer step: '
                                + describe_non_finite(found, len(params)))
        return problems

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        problems = self._problems(runner, outputs)
        flag = torch.tensor(float(bool(problems)))
        all_reduce(flag)
        if not flag.item():
            return
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch {batch_idx + 1} '
                 f'of {len(runner.train_dataloader)})')
        detail = '; '.join(problems) if problems else 'found on another rank (see its log)'
        raise FloatingPointError(
            f'non-finite value at training {where}: {detail}. Stopping before anything more '
            'is saved; lower the learning rate or enable clip_grad.')

    def _check_model(self, runner, what):
        assert_finite_state_dict(unwrap(runner.model).state_dict(), what)

    def before_val(self, runner):
        self._check_model(runner, f'the model at epoch {runner.epoch}, iteration {runner.iter}')

    def before_test(self, runner):
        load_from = runner.cfg.get('load_from')
        self._check_model(runner, f'checkpoint {load_from}' if load_from else 'the model')
