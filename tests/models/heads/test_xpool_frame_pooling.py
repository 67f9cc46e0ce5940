"""X-Pool text-conditioned frame pooling: official equivalence, init, masking, pair locality."""
import math

import torch
import torch.nn.functional as F

from mmdret.models.heads import XPoolFramePooling


def official_xpool(pool, text, frames):
    """X-Pool ``modules/transformer.py`` forward (num_mha_heads heads), output (Nv, Nt, D)."""
    heads, head_dim = pool.num_heads, pool.head_dim
    text, frames = pool.layer_norm1(text), pool.layer_norm1(frames)
    num_texts, num_vids, num_frames = text.shape[0], frames.shape[0], frames.shape[1]
    q = pool.q_proj(text).reshape(num_texts, heads, head_dim).permute(1, 2, 0)
    k = pool.k_proj(frames).reshape(num_vids, num_frames, heads, head_dim).permute(0, 2, 1, 3)
    v = pool.v_proj(frames).reshape(num_vids, num_frames, heads, head_dim).permute(0, 2, 3, 1)
    weights = F.softmax(k @ q / math.sqrt(head_dim), dim=2)
    attention = (v @ weights).permute(0, 3, 1, 2).reshape(num_vids, num_texts, -1)
    attn = pool.layer_norm2(pool.out_proj(attention))
    return pool.layer_norm3(attn + pool.dropout(pool.linear_proj(attn)))


def randomised(pool):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in pool.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return pool.eval()


def test_paper_parameter_count_and_identity_init():
    pool = XPoolFramePooling()
    assert sum(p.numel() for p in pool.parameters()) == 1_316_352
    assert pool.dropout.p == 0.3 and pool.num_heads == 1
    for name in ('q_proj', 'k_proj', 'v_proj', 'out_proj', 'linear_proj'):
        linear = getattr(pool, name)
        assert torch.equal(linear.weight, torch.eye(512)) and not linear.bias.any()
    pool.init_weights()
    assert torch.equal(pool.q_proj.weight, torch.eye(512))


def test_matches_official_xpool_and_output_is_text_by_video():
    for heads in (1, 4):
        pool = randomised(XPoolFramePooling(embed_dim=32, num_heads=heads))
        text, frames = torch.randn(5, 32), torch.randn(3, 6, 32)
        out = pool(text, frames)
        assert out.shape == (5, 3, 32)
        torch.testing.assert_close(out, official_xpool(pool, text, frames).transpose(0, 1))


def test_each_pair_depends_on_its_text_and_video_only():
    pool = randomised(XPoolFramePooling(embed_dim=32))
    text, frames = torch.randn(4, 32), torch.randn(3, 5, 32)
    full = pool(text, frames)
    for i in range(4):
        for j in range(3):
            torch.testing.assert_close(full[i, j], pool(text[i:i + 1], frames[j:j + 1])[0, 0])


def test_padded_frames_are_ignored_and_empty_videos_stay_finite():
    pool = randomised(XPoolFramePooling(embed_dim=32))
    text, frames = torch.randn(2, 32), torch.randn(2, 4, 32)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    out = pool(text, frames, mask)
    changed = frames.clone()
    changed[0, 2:] = 100.0
    torch.testing.assert_close(pool(text, changed, mask)[:, 0], out[:, 0])
    torch.testing.assert_close(out[:, 0], pool(text, frames[:1, :2])[:, 0])
    assert torch.isfinite(out).all()
