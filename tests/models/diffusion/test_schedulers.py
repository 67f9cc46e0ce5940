import math

import numpy as np
import pytest
import torch

from mmdret.models.diffusion import (BaseDiffusionScheduler, DDIMScheduler, DDPMScheduler,
                                     SchedulerOutput, cosine_beta_schedule, denoise_loop,
                                     get_beta_schedule, linear_beta_schedule, space_timesteps,
                                     truncated_chain_coefficients)
from mmdret.registry import TASK_UTILS

SCHEDULES = ('cosine', 'linear')


# Independent numpy references (guided-diffusion formulas written out) ------------------------


def ref_betas(name, num_steps):
    if name == 'linear':
        scale = 1000 / num_steps
        return np.linspace(scale * 1e-4, scale * 2e-2, num_steps, dtype=np.float64)

    def alpha_bar(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2)**2

    return np.array([
        min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
        for i in range(num_steps)
    ])


def ref_ddim_step(model_output, x_t, ab_t, ab_prev, eta, z):
    x0 = np.clip(model_output, -1, 1)
    eps = (x_t / np.sqrt(ab_t) - x0) / np.sqrt(1 / ab_t - 1)
    sigma = eta * np.sqrt((1 - ab_prev) / (1 - ab_t)) * np.sqrt(1 - ab_t / ab_prev)
    return np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev - sigma**2) * eps + sigma * z


def ref_ddpm_step(model_output, x_t, betas, i, z):
    """p_sample of a GaussianDiffusion built on ``betas`` (already respaced), at index ``i``."""
    alphas_cumprod = np.cumprod(1 - betas)
    ab_prev = np.append(1.0, alphas_cumprod[:-1])[i]
    ab_t = alphas_cumprod[i]
    x0 = np.clip(model_output, -1, 1)
    coef1 = betas[i] * np.sqrt(ab_prev) / (1 - ab_t)
    coef2 = (1 - ab_prev) * np.sqrt(1 - betas[i]) / (1 - ab_t)
    variance = betas[i] * (1 - ab_prev) / (1 - ab_t)
    return coef1 * x0 + coef2 * x_t + (i != 0) * np.sqrt(variance) * z


def ref_spaced_betas(alphas_cumprod, use_timesteps):
    """guided-diffusion ``SpacedDiffusion``'s betas of the kept steps."""
    last, betas = 1.0, []
    for i, ab in enumerate(alphas_cumprod):
        if i in use_timesteps:
            betas.append(1 - ab / last)
            last = ab
    return np.array(betas)


def perfect_x0_denoiser(x0):
    return lambda x, t: x0.expand_as(x)


# The contract every scheduler meets -----------------------------------------------------------


class SchedulerCommonTest:
    scheduler_class: type[BaseDiffusionScheduler]

    def get_scheduler(self, **kwargs):
        return self.scheduler_class(**{'num_train_timesteps': 50, **kwargs})

    @pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_step_shape_and_dtype(self, beta_schedule, dtype):
        scheduler = self.get_scheduler(beta_schedule=beta_schedule)
        g = torch.Generator().manual_seed(0)
        sample = torch.randn(3, 7, dtype=dtype, generator=g)
        for t in (scheduler.timesteps[0], scheduler.timesteps[-1]):
            out = scheduler.step(torch.randn_like(sample), t, sample, generator=g)
            assert isinstance(out, SchedulerOutput)
            for x in out:
                assert x.shape == sample.shape and x.dtype == dtype

    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_add_noise_statistics(self, beta_schedule):
        scheduler = self.get_scheduler(beta_schedule=beta_schedule)
        g = torch.Generator().manual_seed(0)
        x0 = torch.zeros(20000, 4)
        for t in (10, 30, 49):
            xt = scheduler.add_noise(x0, torch.randn(x0.shape, generator=g),
                                     torch.full((len(x0), ), t))
            assert xt.mean().item() == pytest.approx(0, abs=0.02)
            expected = math.sqrt(1 - scheduler.alphas_cumprod[t].item())
            assert xt.std().item() == pytest.approx(expected, rel=0.02)

    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_add_noise_small_t_keeps_x0(self, beta_schedule):
        scheduler = self.get_scheduler(beta_schedule=beta_schedule)
        g = torch.Generator().manual_seed(0)
        x0 = torch.rand(1000, 8, generator=g) * 2 - 1
        xt = scheduler.add_noise(x0, torch.randn(x0.shape, generator=g), torch.zeros(1000).long())
        assert (xt - x0).abs().mean().item() < 0.05

    def test_add_noise_broadcasts_per_sample_timesteps(self):
        scheduler = self.get_scheduler()
        x0, noise = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
        timesteps = torch.tensor([0, 7, 25, 49])
        xt = scheduler.add_noise(x0, noise, timesteps)
        for b, t in enumerate(timesteps.tolist()):
            ab = scheduler.alphas_cumprod[t].item()
            torch.testing.assert_close(xt[b], math.sqrt(ab) * x0[b] + math.sqrt(1 - ab) * noise[b])

    @pytest.mark.parametrize('num_train, num_inference', [(50, 50), (1000, 50), (1000, 7)])
    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_perfect_x0_predictor_returns_x0(self, beta_schedule, num_train, num_inference):
        scheduler = self.get_scheduler(beta_schedule=beta_schedule, num_train_timesteps=num_train)
        scheduler.set_timesteps(num_inference)
        g = torch.Generator().manual_seed(0)
        x0 = torch.rand(4, 16, generator=g) * 2 - 1
        sample, trajectory = denoise_loop(
            scheduler, perfect_x0_denoiser(x0), x0.shape, generator=g, return_trajectory=True)
        assert len(trajectory) == num_inference
        torch.testing.assert_close(sample, x0)

    def test_perfect_epsilon_predictor_returns_x0(self):
        scheduler = self.get_scheduler(prediction_type='epsilon')
        g = torch.Generator().manual_seed(0)
        x0 = torch.rand(4, 16, generator=g, dtype=torch.float64) * 2 - 1

        def denoiser(x, t):
            return scheduler.predict_noise_from_x0(x, x0, t)

        sample = denoise_loop(scheduler, denoiser, x0.shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(sample, x0)

    def test_predict_x0_and_noise_invert_add_noise(self):
        scheduler = self.get_scheduler(prediction_type='epsilon')
        x0, noise, t = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5,
                                                                          dtype=torch.float64), 20
        xt = scheduler.add_noise(x0, noise, torch.full((6, ), t))
        torch.testing.assert_close(scheduler.predict_x0(noise, xt, t), x0)
        torch.testing.assert_close(scheduler.predict_noise_from_x0(xt, x0, t), noise)

    def test_last_step_returns_clamped_x0(self):
        scheduler = self.get_scheduler()
        model_output = torch.linspace(-3, 3, 12).view(2, 6)
        out = scheduler.step(model_output, 0, torch.randn(2, 6))
        torch.testing.assert_close(out.pred_original_sample, model_output.clamp(-1, 1))
        torch.testing.assert_close(out.prev_sample, out.pred_original_sample)

    def test_no_clip(self):
        scheduler = self.get_scheduler(clip_sample=False)
        model_output = torch.linspace(-3, 3, 12).view(2, 6)
        out = scheduler.step(model_output, 0, torch.randn(2, 6))
        torch.testing.assert_close(out.prev_sample, model_output)

    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_respaced_schedule_consistency(self, beta_schedule):
        full = self.get_scheduler(beta_schedule=beta_schedule, num_train_timesteps=1000)
        scheduler = self.get_scheduler(beta_schedule=beta_schedule, num_train_timesteps=1000)
        scheduler.set_timesteps(50)
        steps = scheduler.timesteps.tolist()
        assert len(steps) == 50 and steps[0] == 999 and steps[-1] == 0
        assert steps == sorted(steps, reverse=True)
        for t, prev in zip(steps, steps[1:] + [-1]):
            assert scheduler.previous_timestep(t) == prev
            assert scheduler.alpha_cumprod_at(t) == full.alphas_cumprod[t]
        assert scheduler.alpha_cumprod_at(-1) == 1
        with pytest.raises(ValueError):
            scheduler.previous_timestep(998)

    def test_set_timesteps_all_steps(self):
        scheduler = self.get_scheduler(num_train_timesteps=1000)
        scheduler.set_timesteps(20)
        scheduler.set_timesteps(1000)
        assert scheduler.timesteps.tolist() == list(range(999, -1, -1))
        assert self.get_scheduler().timesteps.tolist() == list(range(49, -1, -1))
        assert len(scheduler) == 1000

    def test_reproducible_with_generator(self):
        scheduler = self.get_scheduler(**self.stochastic_kwargs)
        x0 = torch.rand(3, 8) * 2 - 1

        def run(seed):
            return denoise_loop(scheduler, lambda x, t: x0 + 0.1 * x, (3, 8),
                                generator=torch.Generator().manual_seed(seed))

        torch.testing.assert_close(run(0), run(0), rtol=0, atol=0)
        assert not torch.allclose(run(0), run(1))

    def test_explicit_noise_respected(self):
        scheduler = self.get_scheduler(**self.stochastic_kwargs)
        x_T = torch.randn(3, 8)
        assert scheduler.init_noise(x_T.shape, noise=x_T) is x_T
        with pytest.raises(ValueError):
            scheduler.init_noise((2, 8), noise=x_T)
        seen = []
        denoise_loop(scheduler, lambda x, t: seen.append(x) or torch.zeros_like(x), x_T)
        assert seen[0] is x_T

        model_output, t = torch.rand(3, 8), scheduler.timesteps[10]
        noise = torch.randn(3, 8)
        a = scheduler.step(model_output, t, x_T, noise=noise).prev_sample
        b = scheduler.step(model_output, t, x_T, noise=noise,
                           generator=torch.Generator().manual_seed(5)).prev_sample
        c = scheduler.step(model_output, t, x_T, noise=-noise).prev_sample
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.allclose(a, c)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
    def test_cuda_samples(self):
        scheduler = self.get_scheduler(**self.stochastic_kwargs)
        g = torch.Generator('cuda').manual_seed(0)
        x0 = torch.rand(3, 8, device='cuda') * 2 - 1
        xt = scheduler.add_noise(x0, torch.randn_like(x0), torch.full((3, ), 5, device='cuda'))
        assert xt.device == x0.device
        sample = denoise_loop(scheduler, perfect_x0_denoiser(x0), (3, 8), generator=g,
                              device='cuda')
        torch.testing.assert_close(sample, x0)

    def test_registry_build(self):
        name = self.scheduler_class.__name__
        scheduler = TASK_UTILS.build(dict(type=name, num_train_timesteps=50))
        assert type(scheduler) is self.scheduler_class
        assert len(scheduler) == 50 and scheduler.beta_schedule == 'cosine'
        assert scheduler.prediction_type == 'sample' and scheduler.clip_sample

    def test_invalid_arguments(self):
        with pytest.raises(ValueError):
            self.get_scheduler(prediction_type='v_prediction')
        with pytest.raises(ValueError):
            self.get_scheduler(beta_schedule='sigmoid')
        with pytest.raises(ValueError):
            self.get_scheduler().set_timesteps(51)


class TestDDIMScheduler(SchedulerCommonTest):
    scheduler_class = DDIMScheduler
    stochastic_kwargs = dict(eta=1.0)

    @pytest.mark.parametrize('eta', [0.0, 0.7])
    @pytest.mark.parametrize('num_train, num_inference', [(50, 50), (1000, 20)])
    def test_step_matches_numpy_reference(self, eta, num_train, num_inference):
        scheduler = DDIMScheduler(eta=eta, num_train_timesteps=num_train)
        scheduler.set_timesteps(num_inference)
        rng = np.random.RandomState(0)
        steps = np.linspace(0, num_train - 1, num_inference).round().astype(int)[::-1]
        i = rng.randint(len(steps) - 1)
        t, t_prev = steps[i], steps[i + 1]
        alphas_cumprod = np.cumprod(1 - ref_betas('cosine', num_train))
        model_output, x_t, z = (rng.randn(4, 9) * 1.5 for _ in range(3))

        out = scheduler.step(
            torch.from_numpy(model_output), int(t), torch.from_numpy(x_t),
            noise=torch.from_numpy(z))
        expected = ref_ddim_step(model_output, x_t, alphas_cumprod[t], alphas_cumprod[t_prev],
                                 eta, z)
        np.testing.assert_allclose(out.prev_sample.numpy(), expected, rtol=1e-10, atol=1e-10)

    def test_eta0_trajectory_stays_on_the_forward_process(self):
        """With a perfect predictor and η = 0 every x_t is q_sample(x0, ε̂_T, t)."""
        scheduler = DDIMScheduler(num_train_timesteps=1000)
        scheduler.set_timesteps(25)
        g = torch.Generator().manual_seed(0)
        x0 = torch.rand(2, 5, generator=g, dtype=torch.float64) * 2 - 1
        x_T = torch.randn(2, 5, generator=g, dtype=torch.float64)
        eps = scheduler.predict_noise_from_x0(x_T, x0, 999)
        visited = []

        def denoiser(x, t):
            visited.append((x, t))
            return x0

        denoise_loop(scheduler, denoiser, x_T)
        for x, t in visited:
            torch.testing.assert_close(x, scheduler.add_noise(x0, eps, t))

    def test_eta0_is_deterministic_and_draws_no_noise(self):
        scheduler = DDIMScheduler(num_train_timesteps=50)
        x_T = torch.randn(2, 6)
        g = torch.Generator().manual_seed(3)
        state = g.get_state()
        denoise_loop(scheduler, lambda x, t: 0.5 * x, x_T, generator=g)
        assert torch.equal(g.get_state(), state)

    def test_draw_unused_noise_consumes_one_draw_per_step(self):
        scheduler = DDIMScheduler(num_train_timesteps=50, draw_unused_noise=True)
        x_T = torch.randn(2, 6)
        g = torch.Generator().manual_seed(3)
        result = denoise_loop(scheduler, lambda x, t: 0.5 * x, x_T, generator=g)
        expected_state = torch.Generator().manual_seed(3)
        for _ in range(50):
            torch.randn(2, 6, generator=expected_state)
        assert torch.equal(g.get_state(), expected_state.get_state())
        plain = denoise_loop(DDIMScheduler(num_train_timesteps=50), lambda x, t: 0.5 * x, x_T)
        torch.testing.assert_close(result, plain, rtol=0, atol=0)


class TestDDPMScheduler(SchedulerCommonTest):
    scheduler_class = DDPMScheduler
    stochastic_kwargs = {}

    @pytest.mark.parametrize('beta_schedule', SCHEDULES)
    def test_step_matches_numpy_reference(self, beta_schedule):
        scheduler = DDPMScheduler(num_train_timesteps=50, beta_schedule=beta_schedule)
        rng = np.random.RandomState(1)
        t = rng.randint(1, 50)
        model_output, x_t, z = (rng.randn(4, 9) * 1.5 for _ in range(3))
        out = scheduler.step(
            torch.from_numpy(model_output), t, torch.from_numpy(x_t), noise=torch.from_numpy(z))
        expected = ref_ddpm_step(model_output, x_t, ref_betas(beta_schedule, 50), t, z)
        np.testing.assert_allclose(out.prev_sample.numpy(), expected, rtol=1e-10, atol=1e-10)

    def test_respaced_step_matches_spaced_diffusion(self):
        scheduler = DDPMScheduler(num_train_timesteps=1000)
        scheduler.set_timesteps(30)
        use_timesteps = set(space_timesteps(1000, 30))
        spaced_betas = ref_spaced_betas(np.cumprod(1 - ref_betas('cosine', 1000)), use_timesteps)
        ascending = sorted(use_timesteps)
        rng = np.random.RandomState(2)
        model_output, x_t, z = (rng.randn(3, 5) for _ in range(3))
        for i in (0, 1, 17, 29):
            out = scheduler.step(
                torch.from_numpy(model_output), ascending[i], torch.from_numpy(x_t),
                noise=torch.from_numpy(z))
            expected = ref_ddpm_step(model_output, x_t, spaced_betas, i, z)
            np.testing.assert_allclose(out.prev_sample.numpy(), expected, rtol=1e-10, atol=1e-10)

    def test_q_posterior_variance_is_fixed_small(self):
        scheduler = DDPMScheduler(num_train_timesteps=50)
        for t in (1, 20, 49):
            _, variance = scheduler.q_posterior(torch.zeros(1), torch.zeros(1), t)
            expected = (scheduler.betas[t] * (1 - scheduler.alphas_cumprod_prev[t]) /
                        (1 - scheduler.alphas_cumprod[t]))

    def test_fixed_large_epsilon_step_is_ho_eq_11(self):
        # DITS vanilla variant (Eq. 7): x_prev = (x_t - β/√(1-ᾱ) ε̂)/√α + √β z, no noise at t=0.
        scheduler = DDPMScheduler(
            num_train_timesteps=10, beta_schedule='linear', prediction_type='epsilon',
            clip_sample=False, variance_type='fixed_large',
            schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None))
        betas = np.linspace(0.1, 0.99, 10)
        alpha_bar = np.cumprod(1 - betas)
        rng = np.random.RandomState(3)
        eps, x_t, z = (rng.randn(2, 6) for _ in range(3))
        for t in (9, 4, 0):
            out = scheduler.step(torch.from_numpy(eps), t, torch.from_numpy(x_t),
                                 noise=torch.from_numpy(z))
            mean = (x_t - betas[t] / np.sqrt(1 - alpha_bar[t]) * eps) / np.sqrt(1 - betas[t])
            expected = mean + (np.sqrt(betas[t]) * z if t > 0 else 0)
            np.testing.assert_allclose(out.prev_sample.numpy(), expected, rtol=1e-9, atol=1e-9)

    def test_unknown_variance_type_is_rejected(self):
        with pytest.raises(ValueError, match='variance_type'):
            DDPMScheduler(variance_type='learned')
            torch.testing.assert_close(variance, expected)


# Schedules, respacing, DITS coefficients ------------------------------------------------------


def test_cosine_schedule_matches_official_t50():
    betas = cosine_beta_schedule(50)
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    assert betas.dtype == torch.float64 and betas.shape == (50, )
    np.testing.assert_allclose(betas[:2].numpy(), [0.00175, 0.00369], atol=5e-6)
    np.testing.assert_allclose(betas[-3:].numpy(), [0.555, 0.750, 0.999], atol=5e-4)
    assert alphas_cumprod[0].item() == pytest.approx(0.99825, abs=5e-6)
    assert alphas_cumprod[-1].item() == pytest.approx(9.7e-7, abs=5e-9)
    np.testing.assert_allclose(betas.numpy(), ref_betas('cosine', 50), rtol=1e-12)


def test_linear_schedule_endpoints():
    betas = linear_beta_schedule(1000)
    assert betas.dtype == torch.float64
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(2e-2)
    betas = linear_beta_schedule(50)  # scaled by 1000 / T
    assert betas[0].item() == pytest.approx(2e-3) and betas[-1].item() == pytest.approx(0.4)
    betas = linear_beta_schedule(10, beta_start=0.1, beta_end=0.99, reference_steps=None)
    assert betas[0].item() == pytest.approx(0.1) and betas[-1].item() == pytest.approx(0.99)


def test_get_beta_schedule_scale_and_clip():
    torch.testing.assert_close(get_beta_schedule('cosine', 50), cosine_beta_schedule(50))
    scaled = get_beta_schedule('linear', 50, beta_scale=3.0)
    torch.testing.assert_close(scaled, (3 * linear_beta_schedule(50)).clamp(max=0.999))
    assert scaled.max().item() == 0.999
    with pytest.raises(ValueError):
        get_beta_schedule('quadratic', 50)


@pytest.mark.parametrize('num_train, num_steps', [(1000, 50), (1000, 10), (50, 50), (100, 3)])
def test_space_timesteps_evenly_spaced(num_train, num_steps):
    expected = np.linspace(0, num_train - 1, num_steps).round().astype(int)[::-1].tolist()
    assert space_timesteps(num_train, num_steps) == expected


def test_dits_truncated_chain_coefficients():
    scheduler = DDPMScheduler(
        num_train_timesteps=10,
        beta_schedule='linear',
        schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None))
    chi, lam = truncated_chain_coefficients(scheduler)
    np.testing.assert_allclose(
        chi.numpy(), [0.333, 0.421, 0.506, 0.613, 0.759, 0.964, 1.264, 1.741, 2.701, 9.9],
        atol=1e-3)
    assert lam[0].item() == pytest.approx(0.316, abs=1e-3)
    assert lam[-1].item() == pytest.approx(0.995, abs=1e-3)
    chi3, lam3 = truncated_chain_coefficients(scheduler, num_steps=3)
    torch.testing.assert_close(chi3, chi[:3])
    torch.testing.assert_close(lam3, lam[:3])
    with pytest.raises(ValueError):
        truncated_chain_coefficients(scheduler, num_steps=11)
