import torch
from torch.optim import Optimizer

from mmdret.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class BertAdam(Optimizer):
    """Adam as in the official DiffusionRet/CLIP4Clip ``BertAdam``.

    Differences from :class:`torch.optim.AdamW` that matter for parity: no bias correction
    (``bias_correction=False``), each parameter's gradient is clipped to norm ``max_grad_norm``
    before the moment update, and the decoupled weight decay is added to the update before it is
    scaled by the lr. The learning-rate schedule is left to mmengine param schedulers.

    Args:
        params (iterable): parameters or parameter groups.
        lr (float): learning rate. Defaults to 1e-4.
        betas (tuple[float, float]): Adam betas. Defaults to (0.9, 0.98) (official).
        eps (float): Adam epsilon. Defaults to 1e-6 (official).
        weight_decay (float): decoupled weight decay. Defaults to 0.2 (official).
        max_grad_norm (float): per-parameter gradient clip; <= 0 disables it. Defaults to 1.0.
        bias_correction (bool): apply Adam's bias correction. Defaults to False (official).
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2,
                 max_grad_norm=1.0, bias_correction=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        max_grad_norm=max_grad_norm, bias_correction=bias_correction)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            for param in group['params']:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state['step'] = 0
                    state['exp_avg'] = torch.zeros_like(param)
                    state['exp_avg_sq'] = torch.zeros_like(param)
                if group['max_grad_norm'] > 0:
                    torch.nn.utils.clip_grad_norm_(param, group['max_grad_norm'])
                state['step'] += 1
                exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if group['bias_correction']:
                    update = (exp_avg / (1 - beta1**state['step'])) / (
                        (exp_avg_sq / (1 - beta2**state['step'])).sqrt() + group['eps'])
                else:
                    update = exp_avg / (exp_avg_sq.sqrt() + group['eps'])
                if group['weight_decay'] > 0:
                    update = update + group['weight_decay'] * param
                param.add_(update, alpha=-group['lr'])
        return loss
