"""PatchEmbedding: the same function, gradients and state dict as the strided convolution it
replaces; the motion stem against an explicit six-channel input; no random draws for a copy."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdret.models.utils.patch_embedding import PatchEmbedding, patchify


def conv_reference(images, weight, bias, patch):
    return F.conv2d(images, weight, bias, stride=patch)


def stem_reference(clips, offset):
    """``[f_t, f_{t+k} - f_t]`` written out with the last frame repeated past the end."""
    frames = clips.shape[1]
    later = torch.stack([clips[:, min(t + offset, frames - 1)] for t in range(frames)], 1)
    return torch.cat([clips, later - clips], dim=2)


def assert_same_with_gradients(out, expected, inputs, reference_inputs):
    """``out == expected`` and so are their gradients with respect to the paired inputs."""
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(expected)
    got = torch.autograd.grad(out, inputs, grad)
    want = torch.autograd.grad(expected, reference_inputs, grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_patchify_matches_unfold():
    images = torch.randn(3, 2, 8, 12)
    expected = F.unfold(images, kernel_size=4, stride=4).transpose(1, 2)
    torch.testing.assert_close(patchify(images, 4), expected, rtol=0, atol=0)


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('size', [(32, 32), (35, 41)])  # partial patches are dropped
def test_equals_the_convolution_with_gradients(bias, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 16, 16, bias=bias)
    embed = PatchEmbedding.from_conv(conv)
    assert embed.state_dict().keys() == conv.state_dict().keys()
    images = torch.randn(5, 3, *size, requires_grad=True)
    assert_same_with_gradients(embed(images), conv(images), [images, embed.weight],
                               [images, conv.weight])


def test_clips_are_embedded_per_frame():
    torch.manual_seed(0)
    embed = PatchEmbedding(3, 4, 8)
    clips = torch.randn(2, 3, 3, 16, 16)
    torch.testing.assert_close(embed(clips), embed(clips.flatten(0, 1)), rtol=0, atol=0)


@pytest.mark.parametrize('offset', [1, 2, 5])
def test_motion_stem_equals_conv_on_the_six_channel_input(offset):
    torch.manual_seed(0)
    embed = PatchEmbedding(6, 8, 16, bias=True, motion_offset=offset)
    clips = torch.randn(2, 4, 3, 32, 32, requires_grad=True)
    expected = conv_reference(stem_reference(clips, offset).flatten(0, 1), embed.weight,
                              embed.bias, 16)
    assert_same_with_gradients(embed(clips), expected, [clips, embed.weight],
                               [clips, embed.weight])


def test_motion_stem_depends_on_frame_order_and_needs_clips():
    torch.manual_seed(0)
    embed = PatchEmbedding(6, 8, 16, motion_offset=2)
    clips = torch.randn(1, 4, 3, 32, 32)
    perm = torch.tensor([2, 0, 3, 1])
    out = embed(clips).unflatten(0, (1, 4))
    assert not torch.allclose(embed(clips[:, perm]).unflatten(0, (1, 4)), out[:, perm])
    with pytest.raises(ValueError, match=r'needs clips \(B, T, C, H, W\)'):
        embed(clips[0])


def test_motion_stem_needs_an_even_channel_count():
    with pytest.raises(ValueError, match='even number of weight channels'):
        PatchEmbedding(3, 8, 16, motion_offset=2)


def test_copy_draws_no_random_numbers_and_widening_keeps_the_spread():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 64, 16, 16, bias=False)
    state = torch.get_rng_state()
    PatchEmbedding.from_conv(conv)
    assert torch.equal(torch.get_rng_state(), state)
    wide = PatchEmbedding.from_conv(conv, motion_offset=2)
    assert wide.weight.shape == (64, 6, 16, 16)
    assert wide.weight.std().item() == pytest.approx(conv.weight.std().item(), rel=0.05)


def test_refuses_a_convolution_that_is_not_a_patch_embedding():
    with pytest.raises(ValueError, match='is not a patch embedding'):
        PatchEmbedding.from_conv(nn.Conv2d(3, 8, 16, 8))
