"""Beta (variance) schedules of the forward diffusion process, as float64 tensors.

Step indices are 0-based: ``betas[t]`` is the variance added by step ``t`` of ``num_steps``.
"""
import math

import torch


def cosine_beta_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal, https://arxiv.org/abs/2102.09672.

    guided-diffusion's ``betas_for_alpha_bar`` form:
    ``beta_t = min(1 - alpha_bar((t + 1) / T) / alpha_bar(t / T), max_beta)`` with
    ``alpha_bar(u) = cos((u + s) / (1 + s) * pi / 2) ** 2``.

    Args:
        num_steps (int): Number of diffusion steps T.
        s (float): Offset that keeps beta_0 away from 0. Defaults to 0.008.
        max_beta (float): Upper clip of the betas; the last raw beta is 1. Defaults to 0.999.
    """
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    alpha_bar = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def linear_beta_schedule(num_steps: int,
                         beta_start: float = 1e-4,
                         beta_end: float = 2e-2,
                         reference_steps: int | None = 1000) -> torch.Tensor:
    """Linear schedule of Ho et al. (DDPM), https://arxiv.org/abs/2006.11239.

    With ``reference_steps`` the endpoints are multiplied by ``reference_steps / num_steps`` so that
    any T covers the same total noise as the T=1000 DDPM schedule (guided-diffusion
    ``get_named_beta_schedule('linear')``).

    Args:
        num_steps (int): Number of diffusion steps T.
        beta_start (float): beta_0 at T = ``reference_steps``. Defaults to 1e-4.
        beta_end (float): beta_{T-1} at T = ``reference_steps``. Defaults to 2e-2.
        reference_steps (int, optional): T at which the endpoints hold unscaled. None uses the
            endpoints as given for any T (DITS: ``beta_start=0.1, beta_end=0.99``).
            Defaults to 1000.
    """
    scale = 1.0 if reference_steps is None else reference_steps / num_steps
    return torch.linspace(scale * beta_start, scale * beta_end, num_steps, dtype=torch.float64)


BETA_SCHEDULES = dict(cosine=cosine_beta_schedule, linear=linear_beta_schedule)


def get_beta_schedule(name: str,
                      num_steps: int,
                      beta_scale: float = 1.0,
                      max_beta: float = 0.999,
                      **kwargs) -> torch.Tensor:
    """Betas of a named schedule, multiplied by ``beta_scale`` and clipped to ``max_beta``.

    The clip keeps every alpha = 1 - beta positive after scaling (the official DiffusionRet code
    has a ``scale_beta`` argument but never uses it, i.e. ``beta_scale=1``).

    Args:
        name (str): 'cosine' or 'linear'.
        num_steps (int): Number of diffusion steps T.
        beta_scale (float): Factor on every beta. Defaults to 1.0.
        max_beta (float): Upper clip applied after scaling. Defaults to 0.999.
        **kwargs (dict): Passed to the schedule function, e.g. ``beta_start``/``beta_end``.

    Returns:
        torch.Tensor: (num_steps,) float64 betas.
    """
    if name not in BETA_SCHEDULES:
        raise ValueError(f'Unknown beta schedule {name!r}; '
                         f'expected one of {sorted(BETA_SCHEDULES)}')
    return (beta_scale * BETA_SCHEDULES[name](num_steps, **kwargs)).clamp(max=max_beta)
