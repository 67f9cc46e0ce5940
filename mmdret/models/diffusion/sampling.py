"""The reverse-process loop, kept out of the schedulers so that they hold no model."""
from typing import Callable, Sequence

import torch

from .base_diffusion_scheduler import BaseDiffusionScheduler


def denoise_loop(scheduler: BaseDiffusionScheduler,
                 denoiser_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 shape_or_noise: Sequence[int] | torch.Tensor,
                 generator: torch.Generator | None = None,
                 return_trajectory: bool = False,
                 *,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None):
    """Run ``scheduler.step`` over ``scheduler.timesteps`` from x_T to x_0.

    Args:
        scheduler (BaseDiffusionScheduler): Supplies the timesteps and the step rule.
        denoiser_fn (callable): ``denoiser_fn(x, t)`` with ``t`` a (B,) long tensor of training
            steps on ``x``'s device; returns what ``scheduler.prediction_type`` names.
        shape_or_noise (sequence of int | torch.Tensor): Shape of x_T, drawn from ``generator``
            (the torch global RNG if None, as the official code), or x_T itself.
        generator (torch.Generator, optional): RNG of x_T and the step noise. Defaults to None.
        return_trajectory (bool): Also return the x̂0 of every step. Defaults to False.
        dtype (torch.dtype): dtype of a drawn x_T. Defaults to torch.float32.
        device (torch.device | str, optional): Device of a drawn x_T. Defaults to None (CPU).

    Returns:
        torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]: x_0, and with
        ``return_trajectory`` the per-step x̂0 in sampling order.
    """
    if isinstance(shape_or_noise, torch.Tensor):
        x = shape_or_noise
    else:
        x = scheduler.init_noise(shape_or_noise, generator, dtype=dtype, device=device)
    trajectory = []
    for t in scheduler.timesteps:
        t_batch = torch.full((x.shape[0], ), int(t), dtype=torch.long, device=x.device)
        out = scheduler.step(denoiser_fn(x, t_batch), t, x, generator=generator)
        x = out.prev_sample
        trajectory.append(out.pred_original_sample)
    return (x, trajectory) if return_trajectory else x
