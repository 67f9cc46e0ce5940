"""Text-frame attention pooling in the official and the renormalised masking mode."""
import torch

from mmdret.models.utils import masked_frame_pooling


def test_official_mode_masks_after_the_softmax():
    query = torch.tensor([1., 0.])
    frames = torch.tensor([[1., 0.], [0., 1.], [5., 5.]])
    mask = torch.tensor([1., 1., 0.])
    # Softmax over all three frames, padded one included, then zero the padded weight.
    weights = torch.softmax(frames @ query / 0.5, dim=0) * mask
    torch.testing.assert_close(masked_frame_pooling(query, frames, mask, 0.5, False),
                               weights @ frames)


def test_renormalized_mode_ignores_padded_frames():
    query = torch.randn(2, 4)
    frames = torch.randn(2, 3, 4)
    mask = torch.tensor([[1., 1., 0.], [1., 1., 1.]])
    padded = frames.clone()
    padded[0, 2] = 100.
    pooled = masked_frame_pooling(query, padded, mask, 1.0, True)
    expected0 = torch.softmax(frames[0, :2] @ query[0], dim=0) @ frames[0, :2]
    torch.testing.assert_close(pooled[0], expected0)
    torch.testing.assert_close(pooled, masked_frame_pooling(query, frames, mask, 1.0, True))


def test_all_padding_pools_to_zero_and_stays_finite():
    pooled = masked_frame_pooling(torch.randn(4), torch.randn(3, 4), torch.zeros(3), 1.0, True)
    assert torch.equal(pooled, torch.zeros(4))
