"""Schedule buffers and forward-process math shared by the reverse-step schedulers.

Schedulers hold no model (diffusers style): the caller runs the loop, see ``sampling.denoise_loop``.
Training steps are 0-based, ``t = 0 .. T-1``; ``t = -1`` stands for the clean sample (ᾱ = 1).
"""
from abc import ABC, abstractmethod
from typing import NamedTuple, Sequence

import torch

from .noise_schedules import get_beta_schedule

PREDICTION_TYPES = ('sample', 'epsilon')


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Raise a ValueError naming ``name`` and ``choices`` unless ``value`` is one of them.

    Args:
        name (str): The argument's name, for the message.
        value (str): The value given.
        choices (Sequence[str]): The accepted values.
    """
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')


class SchedulerOutput(NamedTuple):
    """Result of one reverse step.

    Attributes:
        prev_sample (torch.Tensor): x at the previous (less noisy) timestep, input of the next step.
        pred_original_sample (torch.Tensor): x̂0 predicted at this step, clamped if
            ``clip_sample``.
    """
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def extract(a: torch.Tensor, t, shape: Sequence[int]) -> torch.Tensor:
    """``a[t]`` shaped to broadcast against a tensor of ``shape``.

    ``t`` is an int or 0-d tensor (one step for the whole batch) or a (B,) tensor (one per sample).

    Args:
        a (torch.Tensor): A (T,) schedule buffer, e.g. ``alphas_cumprod``.
        t (int | torch.Tensor): Training step(s) to read: an int or 0-d tensor, or a (B,) tensor
            (moved to the CPU for indexing).
        shape (Sequence[int]): Shape of the tensor the result multiplies, batch first.

    Returns:
        torch.Tensor: A 0-d tensor for one step, else ``(B, 1, ..., 1)`` with ``len(shape)``
        dims, on the device of ``a``.
    """
    out = a[torch.as_tensor(t).cpu()]
    if out.ndim == 0:
        return out
    return out.reshape(out.shape[0], *((1, ) * (len(shape) - 1)))


def space_timesteps(num_train_timesteps: int, num_steps: int) -> list[int]:
    """``num_steps`` evenly spaced training steps, both ends included, in descending order.

    Same steps as guided-diffusion ``space_timesteps(T, [n])`` (one section; its float
    accumulation and round-half-even kept), so respaced sampling visits the official steps. Up to
    rounding this is diffusers' ``timestep_spacing='linspace'``. ``num_steps == T`` gives
    ``T-1, ..., 0``; ``num_steps == 1`` gives ``[0]`` as in guided-diffusion.

    Args:
        num_train_timesteps (int): Number of training steps T.
        num_steps (int): Number of steps to keep, in ``[1, T]``.

    Returns:
        list[int]: The kept 0-based steps, descending.

    Raises:
        ValueError: If ``num_steps`` is outside ``[1, T]``.
    """
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f'num_steps must be in [1, {num_train_timesteps}], got {num_steps}')
    stride = (num_train_timesteps - 1) / (num_steps - 1) if num_steps > 1 else 1
    steps, cur = [], 0.0
    for _ in range(num_steps):
        steps.append(round(cur))
        cur += stride
    return sorted(steps, reverse=True)


class BaseDiffusionScheduler(ABC):
    """Gaussian diffusion schedule q(x_t | x0) = N(√ᾱ_t x0, (1 - ᾱ_t) I) plus timestep respacing.

    Buffers are plain float64 tensors on the CPU, indexed by the 0-based training step ``t``:
    ``betas``, ``alphas`` (1 - β), ``alphas_cumprod`` (ᾱ), ``alphas_cumprod_prev`` (ᾱ_{t-1}, 1 at
    t = 0), ``sqrt_alphas_cumprod``, ``sqrt_one_minus_alphas_cumprod``,
    ``sqrt_recip_alphas_cumprod`` (1/√ᾱ) and ``sqrt_recipm1_alphas_cumprod`` (√(1/ᾱ - 1)).
    Coefficients are computed in float64 and cast to the sample's dtype and device.

    The official DiffusionRet setting (https://arxiv.org/abs/2303.09867) is the default:
    cosine betas, x0-prediction, x̂0 clamped to [-1, 1] while sampling.

    Args:
        num_train_timesteps (int): Number of forward steps T (DiffusionRet README/eval: 50;
            its ``main_retrieval.py`` default: 1000). Defaults to 1000.
        beta_schedule (str): 'cosine' (Nichol & Dhariwal, https://arxiv.org/abs/2102.09672) or
            'linear' (Ho et al., https://arxiv.org/abs/2006.11239), see ``noise_schedules``.
            Defaults to 'cosine'.
        beta_scale (float): Factor on every beta, clipped to 0.999 after scaling. Defaults to 1.0.
        schedule_kwargs (dict, optional): Extra arguments of the schedule function, e.g.
            ``dict(beta_start=0.1, beta_end=0.99, reference_steps=None)`` for DITS's linear
            schedule. Defaults to None.
        prediction_type (str): What the denoiser outputs: 'sample' (x0, DiffusionRet) or
            'epsilon' (the noise ε). Defaults to 'sample'.
        clip_sample (bool): Clamp x̂0 in ``step`` (the official code clamps while sampling only,
            never in training). Defaults to True.
        clip_sample_range (float): x̂0 is clamped to [-range, range]. Defaults to 1.0.
    """

    def __init__(self,
                 num_train_timesteps: int = 1000,
                 beta_schedule: str = 'cosine',
                 beta_scale: float = 1.0,
                 schedule_kwargs: dict | None = None,
                 prediction_type: str = 'sample',
                 clip_sample: bool = True,
                 clip_sample_range: float = 1.0):
        check_choice('prediction_type', prediction_type, PREDICTION_TYPES)
        self.num_train_timesteps = num_train_timesteps
        self.beta_schedule = beta_schedule
        self.prediction_type = prediction_type
        self.clip_sample = clip_sample
        self.clip_sample_range = clip_sample_range

        betas = get_beta_schedule(beta_schedule, num_train_timesteps, beta_scale,
                                  **(schedule_kwargs or {}))
        if not ((betas > 0) & (betas < 1)).all():
            raise ValueError('betas must lie in (0, 1)')
        self.betas = betas
        self.alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([betas.new_ones(1), self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1 - self.alphas_cumprod).sqrt()
        self.sqrt_recip_alphas_cumprod = self.alphas_cumprod.rsqrt()
        self.sqrt_recipm1_alphas_cumprod = (1 / self.alphas_cumprod - 1).sqrt()

        self.set_timesteps(num_train_timesteps)

    def __len__(self) -> int:
        return self.num_train_timesteps

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Sample with ``num_inference_steps`` of the training steps (see ``space_timesteps``).

        Sets ``timesteps`` (descending long tensor) and the previous step of each. The constructor
        calls it with all T steps, the official DiffusionRet setting.

        Args:
            num_inference_steps (int): Number of reverse steps, in ``[1, num_train_timesteps]``.
        """
        steps = space_timesteps(self.num_train_timesteps, num_inference_steps)
        self.num_inference_steps = num_inference_steps
        self.timesteps = torch.tensor(steps, dtype=torch.long)
        self._prev_timestep = dict(zip(steps, steps[1:] + [-1]))

    def previous_timestep(self, timestep) -> int:
        """The step after ``timestep`` in ``timesteps``; -1 after the last one.

        Args:
            timestep (int | torch.Tensor): An element of ``timesteps``.

        Returns:
            int: The next (less noisy) step of the reverse chain, or -1 (the clean sample).

        Raises:
            ValueError: If ``timestep`` is not in ``timesteps``.
        """
        try:
            return self._prev_timestep[int(timestep)]
        except KeyError:
            raise ValueError(f'timestep {int(timestep)} is not in scheduler.timesteps') from None

    def alpha_cumprod_at(self, timestep: int) -> torch.Tensor:
        """ᾱ at a training step as a float64 0-d tensor, with ᾱ_{-1} = 1.

        Args:
            timestep (int): A 0-based training step, or -1 for the clean sample.

        Returns:
            torch.Tensor: ᾱ_t, float64, 0-d.
        """
        return self.alphas_cumprod[timestep] if timestep >= 0 else self.alphas_cumprod.new_ones(())

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor,
                  timesteps: torch.Tensor) -> torch.Tensor:
        """q_sample: x_t = √ᾱ_t x0 + √(1 - ᾱ_t) ε, with ``timesteps`` (B,) for dim 0.

        Args:
            original_samples (torch.Tensor): Clean samples x0, batch first.
            noise (torch.Tensor): Standard normal noise ε, shaped as ``original_samples``.
            timesteps (torch.Tensor): (B,) training steps, one per sample (or one int / 0-d tensor
                for the whole batch).

        Returns:
            torch.Tensor: The noisy samples x_t, shaped as ``original_samples``.
        """
        shape = original_samples.shape
        return (extract(self.sqrt_alphas_cumprod, timesteps, shape).to(original_samples) *
                original_samples +
                extract(self.sqrt_one_minus_alphas_cumprod, timesteps, shape).to(noise) * noise)

    def predict_x0(self, model_output: torch.Tensor, sample: torch.Tensor, t) -> torch.Tensor:
        """x̂0 from the denoiser output (unclamped): the output itself, or from ε̂.

        Args:
            model_output (torch.Tensor): Denoiser output at (``sample``, ``t``): x̂0 for
                ``prediction_type='sample'``, ε̂ for ``'epsilon'``.
            sample (torch.Tensor): x_t.
            t (int | torch.Tensor): Training step(s) of ``sample`` (see :func:`extract`).

        Returns:
            torch.Tensor: x̂0, shaped as ``sample``.
        """
        if self.prediction_type == 'sample':
            return model_output
        return (extract(self.sqrt_recip_alphas_cumprod, t, sample.shape).to(sample) * sample -
                extract(self.sqrt_recipm1_alphas_cumprod, t, sample.shape).to(sample) *
                model_output)

    def predict_noise_from_x0(self, sample: torch.Tensor, x0: torch.Tensor, t) -> torch.Tensor:
        """ε̂ = (x_t / √ᾱ_t - x̂0) / √(1/ᾱ_t - 1).

        Args:
            sample (torch.Tensor): x_t.
            x0 (torch.Tensor): x̂0, shaped as ``sample``.
            t (int | torch.Tensor): Training step(s) of ``sample`` (see :func:`extract`).

        Returns:
            torch.Tensor: ε̂, shaped as ``sample``.
        """
        return ((extract(self.sqrt_recip_alphas_cumprod, t, sample.shape).to(sample) * sample -
                 x0) / extract(self.sqrt_recipm1_alphas_cumprod, t, sample.shape).to(sample))

    def init_noise(self,
                   shape: Sequence[int] | None,
                   generator: torch.Generator | None = None,
                   noise: torch.Tensor | None = None,
                   dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
        """Standard normal noise: ``noise`` itself if given, else drawn from ``generator``.

        Without a generator the torch global RNG is used, as the official code does.

        Args:
            shape (Sequence[int], optional): Shape of the noise; with ``noise`` given it is checked
                against it (None skips the check).
            generator (torch.Generator, optional): RNG to draw from. Defaults to None (the global
                RNG).
            noise (torch.Tensor, optional): Noise to return as is. Defaults to None.
            dtype (torch.dtype): dtype of drawn noise. Defaults to ``torch.float32``.
            device (torch.device | str, optional): Device of drawn noise. Defaults to None (the
                default device).

        Returns:
            torch.Tensor: The noise.

        Raises:
            ValueError: If ``noise`` does not have the shape ``shape``.
        """
        if noise is not None:
            if shape is not None and tuple(noise.shape) != tuple(shape):
                raise ValueError(f'noise has shape {tuple(noise.shape)}, expected {tuple(shape)}')
            return noise
        return torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)

    def step(self,
             model_output: torch.Tensor,
             timestep,
             sample: torch.Tensor,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> SchedulerOutput:
        """One reverse step from ``timestep`` to ``previous_timestep(timestep)``.

        x̂0 is predicted from ``model_output`` (clamped if ``clip_sample``), then the subclass's
        :meth:`prev_sample_from_x0` gives the next sample.

        Args:
            model_output (torch.Tensor): Denoiser output at (``sample``, ``timestep``).
            timestep (int | torch.Tensor): Current training step, an element of ``timesteps``.
            sample (torch.Tensor): x_t.
            generator (torch.Generator, optional): RNG of the step noise. Defaults to None.
            noise (torch.Tensor, optional): Explicit step noise instead of drawing it.
                Defaults to None.
        """
        t = int(timestep)
        self.previous_timestep(t)  # refuses a step outside ``timesteps`` before any work
        x0 = self.predict_x0(model_output, sample, t)
        if self.clip_sample:
            x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        return SchedulerOutput(self.prev_sample_from_x0(x0, sample, t, generator, noise), x0)

    @abstractmethod
    def prev_sample_from_x0(self, x0: torch.Tensor, sample: torch.Tensor, t: int,
                            generator: torch.Generator | None,
                            noise: torch.Tensor | None) -> torch.Tensor:
        """x at ``previous_timestep(t)`` given x_t and the step's (clamped) x̂0.

        Args:
            x0 (torch.Tensor): x̂0 predicted at this step.
            sample (torch.Tensor): x_t.
            t (int): Current training step, an element of ``timesteps``.
            generator (torch.Generator, optional): RNG of the step noise.
            noise (torch.Tensor, optional): Explicit step noise instead of drawing it.
        """
