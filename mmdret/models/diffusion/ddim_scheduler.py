"""DDIM reverse step, guided-diffusion ``ddim_sample`` form (the official DiffusionRet sampler)."""
import torch

from mmdret.registry import TASK_UTILS
from .base_diffusion_scheduler import BaseDiffusionScheduler


@TASK_UTILS.register_module()
class DDIMScheduler(BaseDiffusionScheduler):
    """DDIM sampler of Song et al., https://arxiv.org/abs/2010.02502.

    With x̂0 the (clamped) prediction and ε̂ = (x_t/√ᾱ_t - x̂0)/√(1/ᾱ_t - 1), one step to the
    previous entry of ``timesteps`` (ᾱ_prev = 1 after the last one) is::

        σ = η √((1 - ᾱ_prev)/(1 - ᾱ_t)) √(1 - ᾱ_t/ᾱ_prev)
        x_prev = √ᾱ_prev x̂0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z

    so the last step returns x̂0 exactly. η = 0 (DiffusionRet) is deterministic given x_T.

    Args:
        eta (float): η, the weight of fresh noise; 0 is DDIM, 1 the DDPM posterior variance.
            Defaults to 0.0.
        draw_unused_noise (bool): Draw the step noise z at every step even when σ = 0 (η = 0, or
            the last step), as the official code does with ``randn_like``. Only the RNG stream
            changes, for bit-exact parity with the official sampler; the result does not.
            Defaults to False.
        **kwargs (dict): Arguments of :class:`BaseDiffusionScheduler`.
    """

    def __init__(self, eta: float = 0.0, draw_unused_noise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.eta = eta
        self.draw_unused_noise = draw_unused_noise

    def prev_sample_from_x0(self, x0, sample, t, generator, noise):
        alpha_bar = self.alpha_cumprod_at(t)
        alpha_bar_prev = self.alpha_cumprod_at(self.previous_timestep(t))

        eps = self.predict_noise_from_x0(sample, x0, t)
        sigma = (self.eta * ((1 - alpha_bar_prev) / (1 - alpha_bar)).sqrt() *
                 (1 - alpha_bar / alpha_bar_prev).sqrt())
        prev_sample = (alpha_bar_prev.sqrt().to(sample) * x0 +
                       (1 - alpha_bar_prev - sigma**2).sqrt().to(sample) * eps)

        use_noise = bool(sigma > 0)
        if use_noise or self.draw_unused_noise:
            z = self.init_noise(sample.shape, generator, noise, sample.dtype, sample.device)
            if use_noise:
                prev_sample = prev_sample + sigma.to(sample) * z
        return prev_sample
