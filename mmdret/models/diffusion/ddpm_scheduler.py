"""DDPM ancestral step (guided-diffusion ``p_sample``), fixed-small or fixed-large variance."""
import torch

from mmdret.registry import TASK_UTILS
from .base_diffusion_scheduler import BaseDiffusionScheduler, check_choice

VARIANCE_TYPES = ('fixed_small', 'fixed_large')


@TASK_UTILS.register_module()
class DDPMScheduler(BaseDiffusionScheduler):
    """Ancestral DDPM sampler of Ho et al., https://arxiv.org/abs/2006.11239.

    Each step samples N(μ̃, σ² I) around the posterior mean of q(x_prev | x_t, x̂0)::

        μ̃ = β √ᾱ_prev/(1 - ᾱ_t) x̂0 + (1 - ᾱ_prev) √(1 - β)/(1 - ᾱ_t) x_t
        σ² = β̃ = β (1 - ᾱ_prev)/(1 - ᾱ_t)                 ('fixed_small')
        σ² = β                                              ('fixed_large', Ho et al. Eq. 11
                                                            and DITS's vanilla variant, Eq. 7)

    and no noise at the last step, which therefore returns x̂0. With respacing, the kept steps form
    a chain of their own, β = 1 - ᾱ_t/ᾱ_prev with ᾱ_prev that of the previous entry of
    ``timesteps`` (guided-diffusion ``SpacedDiffusion``); with all steps β is the training beta.
    The official DiffusionRet code has this sampler but never uses it.

    With ε-prediction and ``clip_sample=False``, μ̃ equals Ho et al.'s
    1/√α (x_t - β/√(1 - ᾱ_t) ε̂).

    Args:
        variance_type (str): 'fixed_small' (β̃, guided-diffusion FIXED_SMALL) or 'fixed_large'
            (β). Defaults to 'fixed_small'.
        **kwargs (dict): Arguments of :class:`BaseDiffusionScheduler`.
    """

    def __init__(self, variance_type: str = 'fixed_small', **kwargs):
        check_choice('variance_type', variance_type, VARIANCE_TYPES)
        self.variance_type = variance_type
        super().__init__(**kwargs)

    def q_posterior(self, x0: torch.Tensor, sample: torch.Tensor,
                    timestep) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean μ̃ (sample dtype) and step variance σ² (float64 0-d) given x_t and x0.

        Args:
            x0 (torch.Tensor): x̂0 predicted at this step, shaped as ``sample``.
            sample (torch.Tensor): x_t.
            timestep (int | torch.Tensor): Current training step, an element of ``timesteps``.

        Returns:
            tuple[torch.Tensor, torch.Tensor]: The posterior mean μ̃ and the step variance σ²
            (β̃ for ``'fixed_small'``, β for ``'fixed_large'``).
        """
        t = int(timestep)
        alpha_bar = self.alpha_cumprod_at(t)
        alpha_bar_prev = self.alpha_cumprod_at(self.previous_timestep(t))
        beta = 1 - alpha_bar / alpha_bar_prev
        coef_x0 = beta * alpha_bar_prev.sqrt() / (1 - alpha_bar)
        coef_xt = (1 - alpha_bar_prev) * (1 - beta).sqrt() / (1 - alpha_bar)
        mean = coef_x0.to(sample) * x0 + coef_xt.to(sample) * sample
        if self.variance_type == 'fixed_large':
            return mean, beta
        return mean, beta * (1 - alpha_bar_prev) / (1 - alpha_bar)

    def prev_sample_from_x0(self, x0, sample, t, generator, noise):
        mean, variance = self.q_posterior(x0, sample, t)
        if self.previous_timestep(t) < 0:
            return mean
        z = self.init_noise(sample.shape, generator, noise, sample.dtype, sample.device)
        return mean + variance.sqrt().to(sample) * z
