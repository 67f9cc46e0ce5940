"""WTI similarity (token-wise weighted similarity) against an explicit loop implementation of the official formula."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdret.models.heads import WTISimilarityHead
from mmdret.models.heads.wti_similarity_head import token_weights, weighted_token_similarity

A, B, L, T, D = 3, 4, 5, 4, 8


def reference_wti(text, text_weights, text_mask, video, video_weights, video_mask,
                  exclude_masked_from_max):
    """The official formula written out with python loops over texts a, videos b, tokens t and frames v.

    ``S[a,b,t,v] = <t_at, v_bv> m_at m_bv``; official: masked entries (exactly 0) take part in
    the max; ``exclude_masked_from_max``: the max runs over valid pairs only (0 if there is none).
    """
    sim = torch.zeros(text.shape[0], video.shape[0], dtype=torch.float64)
    for a in range(text.shape[0]):
        for b in range(video.shape[0]):
            s = [[float(text[a, t] @ video[b, v]) * float(text_mask[a, t]) * float(video_mask[b, v])
                  for v in range(video.shape[1])] for t in range(text.shape[1])]
            valid = [[bool(text_mask[a, t]) and bool(video_mask[b, v])
                      for v in range(video.shape[1])] for t in range(text.shape[1])]

            def best(values, keep):
                if not exclude_masked_from_max:
                    return max(values)
                kept = [x for x, k in zip(values, keep) if k]
                return max(kept) if kept else 0.0

            t2v = sum(float(text_weights[a, t]) * best(s[t], valid[t])
                      for t in range(text.shape[1]))
            v2t = sum(float(video_weights[b, v])
                      * best([s[t][v] for t in range(text.shape[1])],
                             [valid[t][v] for t in range(text.shape[1])])
                      for v in range(video.shape[1]))
            sim[a, b] = (t2v + v2t) / 2
    return sim


def reference_softmax_weights(logits, mask):
    """Softmax over the valid positions only; masked positions get exactly 0."""
    out = torch.zeros_like(logits)
    for row in range(logits.shape[0]):
        valid = [i for i in range(logits.shape[1]) if mask[row, i]]
        top = max(float(logits[row, i]) for i in valid)
        denom = sum(math.exp(float(logits[row, i]) - top) for i in valid)
        for i in valid:
            out[row, i] = math.exp(float(logits[row, i]) - top) / denom
    return out


def make_inputs(seed=0):
    """Random normalised features and masks; text 0 vs video 1 has only negative similarities."""
    gen = torch.Generator().manual_seed(seed)
    text = torch.randn(A, L, D, generator=gen, dtype=torch.float64)
    video = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
    # All-negative case: every real similarity of text 0 with video 1 is < 0.
    text[0] = -text[0].abs() - 0.1
    video[1] = video[1].abs() + 0.1
    text, video = F.normalize(text, dim=-1), F.normalize(video, dim=-1)
    text_mask = torch.tensor([[1, 1, 1, 0, 0],
                              [1, 1, 1, 1, 1],
                              [1, 1, 0, 0, 0]])
    video_mask = torch.tensor([[1, 1, 1, 1],
                               [1, 1, 0, 0],
                               [1, 0, 0, 0],
                               [1, 1, 1, 0]])
    text_weights = token_weights(torch.randn(A, L, generator=gen, dtype=torch.float64), text_mask)
    video_weights = token_weights(torch.randn(B, T, generator=gen, dtype=torch.float64),
                                  video_mask)
    return text, text_weights, text_mask, video, video_weights, video_mask


@pytest.mark.parametrize('exclude', [False, True])
def test_weighted_token_similarity_matches_loop_reference(exclude):
    inputs = make_inputs()
    expected = reference_wti(*inputs, exclude_masked_from_max=exclude)
    actual = weighted_token_similarity(*inputs, exclude_masked_from_max=exclude)
    assert actual.shape == (A, B)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)


def test_official_masked_zeros_take_part_in_max():
    inputs = make_inputs()
    official = weighted_token_similarity(*inputs, exclude_masked_from_max=False)
    corrected = weighted_token_similarity(*inputs, exclude_masked_from_max=True)
    # Text 0 vs video 1: all real similarities are negative and both have padding, so the
    # official max picks the masked 0 for every token and every frame -> exactly 0.
    assert official[0, 1].item() == 0.0
    assert corrected[0, 1].item() < -0.05
    # With padding on either side the official value can only be larger.
    assert bool((official >= corrected - 1e-12).all())
    # Text 1 and video 0 have no padding at all: both variants agree there.
    torch.testing.assert_close(official[1, 0], corrected[1, 0], rtol=0, atol=1e-12)


def test_valid_similarity_independent_of_padded_content():
    text, tw, tm, video, vw, vm = make_inputs()
    text2, video2 = text.clone(), video.clone()
    text2[tm == 0] = torch.randn(int((tm == 0).sum()), D, dtype=torch.float64)
    video2[vm == 0] = torch.randn(int((vm == 0).sum()), D, dtype=torch.float64)
    for exclude in (False, True):
        torch.testing.assert_close(weighted_token_similarity(text, tw, tm, video, vw, vm, exclude),
                                   weighted_token_similarity(text2, tw, tm, video2, vw, vm,
                                                             exclude),
                                   rtol=0, atol=1e-12)


def test_token_weights_softmax_with_masked_fill():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 6, generator=gen, dtype=torch.float64) * 3
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    weights = token_weights(logits, mask)
    torch.testing.assert_close(weights, reference_softmax_weights(logits, mask),
                               rtol=1e-12, atol=1e-15)
    assert bool((weights[mask == 0] == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64))
    assert weights[2, 5].item() == 1.0


def test_token_weights_all_masked_row_is_uniform_not_nan():
    # The official -9e15 fill (unlike -inf) gives a uniform, finite distribution.
    weights = token_weights(torch.tensor([[0.3, -2.0, 5.0, 1.0]]), torch.zeros(1, 4))
    torch.testing.assert_close(weights, torch.full((1, 4), 0.25))


def build_head(**kwargs):
    torch.manual_seed(0)
    return WTISimilarityHead(embed_dim=D, hidden_dim=16, **kwargs).double()


def random_features(num_texts=A, num_videos=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    text = torch.randn(num_texts, L, D, generator=gen, dtype=torch.float64) * 2
    video = torch.randn(num_videos, T, D, generator=gen, dtype=torch.float64) * 2
    text_mask = (torch.rand(num_texts, L, generator=gen) > 0.3).long()
    video_mask = (torch.rand(num_videos, T, generator=gen) > 0.3).long()
    text_mask[:, 0] = 1
    video_mask[:, 0] = 1
    return text, text_mask, video, video_mask


@pytest.mark.parametrize('exclude', [False, True])
def test_head_chunked_similarity_equals_unchunked_and_reference(exclude):
    head = build_head(exclude_masked_from_max=exclude, candidate_chunk_size=2)
    text, text_mask, video, video_mask = random_features(num_videos=5)  # chunks 2, 2, 1
    chunked = head(text, text_mask, video, video_mask)
    head.candidate_chunk_size = 256
    full = head(text, text_mask, video, video_mask)
    assert chunked.shape == (A, 5)
    torch.testing.assert_close(chunked, full, rtol=0, atol=1e-12)
    # Weights come from the MLPs on the *unnormalised* features, similarity on normalised ones.
    with torch.no_grad():
        tw = reference_softmax_weights(head.text_weight_fc(text).squeeze(-1), text_mask)
        vw = reference_softmax_weights(head.video_weight_fc(video).squeeze(-1), video_mask)
    expected = reference_wti(F.normalize(text, dim=-1), tw, text_mask,
                             F.normalize(video, dim=-1), vw, video_mask, exclude)
    torch.testing.assert_close(full.detach(), expected, rtol=1e-10, atol=1e-12)


def test_head_weights_use_unnormalised_features():
    head = build_head()
    text, text_mask, _, _ = random_features()
    scaled = text * torch.linspace(0.5, 3.0, L, dtype=torch.float64)[None, :, None]
    raw = head.prepare_text(scaled, text_mask)['token_weights']
    on_normalised = head.text_weights(F.normalize(scaled, dim=-1), text_mask)
    assert not torch.allclose(raw, on_normalised)


def test_head_gradient_reaches_both_weight_mlps():
    head = build_head(candidate_chunk_size=2)
    text, text_mask, video, video_mask = random_features()
    text.requires_grad_(True)
    video.requires_grad_(True)
    head(text, text_mask, video, video_mask).sum().backward()
    for mlp in (head.text_weight_fc, head.video_weight_fc):
        for layer in (mlp[0], mlp[2]):
            assert layer.weight.grad is not None
            assert layer.weight.grad.abs().sum() > 0
    assert text.grad.abs().sum() > 0 and video.grad.abs().sum() > 0
