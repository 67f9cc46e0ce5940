"""DiT blocks: adaLN-Zero identity at zero init and the modulation formula."""
import pytest
import torch
from torch import nn

from mmdret.models.utils import Attention, DiTBlock, FinalLayer, modulate


def test_modulate_formula():
    x, shift, scale = torch.randn(2, 3, 4), torch.randn(2, 4), torch.randn(2, 4)
    expected = torch.stack([x[b] * (1 + scale[b]) + shift[b] for b in range(2)])
    torch.testing.assert_close(modulate(x, shift, scale), expected)


def test_zero_adaln_block_is_identity_and_final_layer_zero():
    torch.manual_seed(0)
    block, final = DiTBlock(8, 2), FinalLayer(8, 5)
    for layer in (block.adaLN_modulation[-1], final.adaLN_modulation[-1], final.linear):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    x, c = torch.randn(3, 4, 8), torch.randn(3, 8)
    assert torch.equal(block(x, c), x)
    assert not final(x, c).any() and final(x, c).shape == (3, 4, 5)


def test_attention_matches_per_head_softmax():
    torch.manual_seed(0)
    attn = Attention(8, num_heads=2).double()
    x = torch.randn(2, 5, 8, dtype=torch.double)
    q, k, v = attn.qkv(x).split(8, dim=-1)
    heads = []
    for h in range(2):
        part = slice(4 * h, 4 * h + 4)
        weights = (q[..., part] @ k[..., part].transpose(1, 2) / 2.0).softmax(dim=-1)
        heads.append(weights @ v[..., part])
    torch.testing.assert_close(attn(x), attn.proj(torch.cat(heads, dim=-1)))
    with pytest.raises(ValueError, match='divisible'):
        Attention(6, num_heads=4)

