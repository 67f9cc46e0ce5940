"""The per-step buffer of cached sampling: ``precompute`` without autograd hands
``denoise_cached`` one (B, N, 2D) workspace, and outputs of earlier steps stay valid."""
import pytest
import torch

from mmdret.models.heads import TextToVideoDenoiser, VideoToTextDenoiser

WIDTH, BATCH, CANDIDATES, FRAMES = 8, 3, 4, 2


def features(cls, gen):
    if cls is TextToVideoDenoiser:
        return (torch.randn(BATCH, WIDTH, generator=gen),
                torch.randn(BATCH, CANDIDATES, FRAMES, WIDTH, generator=gen),
                torch.ones(BATCH, CANDIDATES, FRAMES))
    return (torch.randn(BATCH, CANDIDATES, WIDTH, generator=gen),
            torch.randn(BATCH, FRAMES, WIDTH, generator=gen), torch.ones(BATCH, FRAMES))


@pytest.mark.parametrize('cls', [TextToVideoDenoiser, VideoToTextDenoiser])
def test_workspace_is_reused_without_aliasing_outputs(cls):
    torch.manual_seed(0)
    model = cls(width=WIDTH, max_timesteps=10).eval()
    gen = torch.Generator().manual_seed(1)
    feats = features(cls, gen)
    steps = [9, 5, 0]
    xs = [torch.randn(BATCH, CANDIDATES, generator=gen) for _ in steps]
    with torch.no_grad():
        cache = model.precompute(*feats, timesteps=torch.tensor(steps))
        assert cache.workspace is not None
        assert cache.workspace.shape == (BATCH, CANDIDATES, 2 * WIDTH)
        outputs = [model.denoise_cached(x, k, cache) for x, k in zip(xs, steps)]
        for out, x, k in zip(outputs, xs, steps):  # checked after all steps ran
            torch.testing.assert_close(out, model(x, torch.full((BATCH, ), k), *feats),
                                       rtol=1e-5, atol=1e-5)
    assert model.precompute(*feats).workspace is None  # autograd on: no shared buffer
