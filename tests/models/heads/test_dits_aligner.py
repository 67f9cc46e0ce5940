"""DITS aligner: DiT denoiser size/init, Eq. 8 coefficients and the truncated chain."""
import pytest
import torch

from mmdret.models.heads import DITSAligner
from mmdret.utils import register_all_modules


@pytest.fixture(autouse=True)
def registry():
    register_all_modules()


def small(**kwargs):
    torch.manual_seed(0)
    return DITSAligner(embed_dim=32, depth=2, num_heads=4, **kwargs)


def test_paper_denoiser_parameter_count_and_zero_init():
    aligner = DITSAligner()
    assert sum(p.numel() for p in aligner.parameters()) == 20_349_952  # the DiT of depth 4, width 512, 16 heads
    x = torch.randn(3, 512)
    assert not aligner(x, 4).any()  # adaLN-Zero: ε_γ ≡ 0 at init
    conditioned = DITSAligner(condition='text')
    assert (sum(p.numel() for p in conditioned.parameters()) - 20_349_952) == 262_656


def test_paper_chain_coefficients():
    aligner = DITSAligner()
    expected_chi = [0.333, 0.421, 0.506, 0.613, 0.759, 0.964, 1.264, 1.741, 2.701, 9.9]
    torch.testing.assert_close(aligner.chi, torch.tensor(expected_chi), atol=2e-3, rtol=0)
    torch.testing.assert_close(aligner.lam, torch.linspace(0.1, 0.99, 10).sqrt())


def test_sampler_matches_hand_unrolled_eq8_for_two_steps():
    aligner = small(truncated_steps=2)
    start, noise = torch.randn(3, 32), torch.randn(1, 3, 32)

    def stub(x, step, cond):
        return (step + 1) * 0.5 * x.tanh() + 0.1

    betas = torch.linspace(0.1, 0.99, 2, dtype=torch.float64)
    alphas = 1 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    chi = (1 - alphas) / (alphas - alphas * alpha_bar).sqrt()
    v2 = start
    v1 = v2 - chi[1].float() * stub(v2, 1, None) + betas[1].sqrt().float() * noise[0]
    v0 = v1 - chi[0].float() * stub(v1, 0, None)  # τ = 1: no noise
    torch.testing.assert_close(aligner.sample(start, noise=noise, denoiser=stub), v0)


def test_zero_steps_is_identity_and_zero_noise_chain_is_deterministic():
    start = torch.randn(2, 32)
    assert torch.equal(small(truncated_steps=0).sample(start), start)
    aligner = small(truncated_steps=3)
    with torch.no_grad():
        for p in aligner.parameters():
            p.add_(0.05 * torch.randn_like(p))
    zero = torch.zeros(2, 2, 32)
    torch.testing.assert_close(aligner.sample(start, noise=zero), aligner.sample(start, noise=zero))
    # Leading dims are free and rows are independent (one token per embedding).
    grid = aligner.sample(start[:, None].expand(2, 4, 32), noise=torch.zeros(2, 1, 1, 32))
    torch.testing.assert_close(grid[:, 2], aligner.sample(start, noise=zero))


def test_gradients_flow_through_all_steps_to_start_and_every_parameter():
    aligner = small(truncated_steps=3, condition='text')
    with torch.no_grad():
        for p in aligner.parameters():
            p.add_(0.05 * torch.randn_like(p))
    start = torch.randn(4, 32, requires_grad=True)
    aligner.sample(start, cond=start).square().sum().backward()
    assert start.grad is not None and start.grad.abs().sum() > 0
    for name, p in aligner.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_condition_raises():
    with pytest.raises(ValueError):
        small(condition='label')
