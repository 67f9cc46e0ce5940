"""Step coefficients of the DITS truncated sampler, read off a scheduler's beta schedule."""
from typing import NamedTuple

import torch

from .base_diffusion_scheduler import BaseDiffusionScheduler


class TruncatedChainCoefficients(NamedTuple):
    """χ and λ of DITS Eq. 8, float64 (T',), entry ``τ - 1`` for the 1-based DITS step τ."""
    chi: torch.Tensor
    lam: torch.Tensor


def truncated_chain_coefficients(scheduler: BaseDiffusionScheduler,
                                 num_steps: int | None = None) -> TruncatedChainCoefficients:
    """χ_τ and λ_τ of the DITS sampler (Eq. 8), https://openreview.net/forum?id=SrQua0ATRZ.

    DITS starts at the text embedding, v_{T'} = t, and runs for τ = T', ..., 1::

        v_{τ-1} = v_τ - χ_τ ε_γ(v_τ, τ) + λ_τ z,    z ~ N(0, I) for τ > 1, z = 0 at τ = 1
        χ_τ = (1 - α_τ)/√(α_τ - α_τ ᾱ_τ) = β_τ/(√α_τ √(1 - ᾱ_τ))
        λ_τ = σ_τ = √β_τ

    χ_τ is the DDPM ε-coefficient without DDPM's 1/√α_τ rescaling of v_τ. DITS's τ is 1-based;
    its β_τ, α_τ, ᾱ_τ are the scheduler buffers at the 0-based step ``τ - 1``. λ_1 is returned as
    √β_1 like the other entries: the caller skips the noise at τ = 1.

    The DITS paper's schedule is linear from β_1 = 0.1 to β_T' = 0.99 over T' = 10 steps, i.e. a
    scheduler built with ``num_train_timesteps=10, beta_schedule='linear',
    schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None)``.

    Args:
        scheduler (BaseDiffusionScheduler): Supplies ``betas``, ``alphas``, ``alphas_cumprod``.
        num_steps (int, optional): T', the number of leading schedule steps the chain uses.
            None uses the whole schedule. Defaults to None.
    """
    num_steps = len(scheduler) if num_steps is None else num_steps
    if not 1 <= num_steps <= len(scheduler):
        raise ValueError(f'num_steps must be in [1, {len(scheduler)}], got {num_steps}')
    betas = scheduler.betas[:num_steps]
    alphas = scheduler.alphas[:num_steps]
    alphas_cumprod = scheduler.alphas_cumprod[:num_steps]
    chi = betas / (alphas.sqrt() * (1 - alphas_cumprod).sqrt())
    return TruncatedChainCoefficients(chi=chi, lam=betas.sqrt())
