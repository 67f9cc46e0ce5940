from .base_diffusion_scheduler import (BaseDiffusionScheduler, SchedulerOutput, extract,
                                       space_timesteps)
from .ddim_scheduler import DDIMScheduler
from .ddpm_scheduler import DDPMScheduler
from .noise_schedules import cosine_beta_schedule, get_beta_schedule, linear_beta_schedule
from .sampling import denoise_loop
from .truncated_sampler import TruncatedChainCoefficients, truncated_chain_coefficients

__all__ = [
    'BaseDiffusionScheduler', 'SchedulerOutput', 'extract', 'space_timesteps', 'DDIMScheduler',
    'DDPMScheduler', 'cosine_beta_schedule', 'linear_beta_schedule', 'get_beta_schedule',
    'denoise_loop', 'TruncatedChainCoefficients', 'truncated_chain_coefficients'
]
