"""tools/analysis/modality_gap.py: gap statistics against a per-pair recomputation, and the PNG."""
from pathlib import Path

import torch

from mmdret.registry import MODELS
from mmdret.utils import register_all_modules
from tool_loader import load_tool

ROOT = Path(__file__).parents[2]
WIDTH = 32


def tiny_dits():
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='DITS',
        encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=0),
        pooling=dict(type='XPoolFramePooling', embed_dim=WIDTH),
        aligner=dict(type='DITSAligner', embed_dim=WIDTH, depth=1, num_heads=2,
                     truncated_steps=2))).eval()


def test_gap_statistics_use_the_paired_video_only():
    tool, model = load_tool('analysis', 'modality_gap.py'), tiny_dits()
    generator = torch.Generator().manual_seed(1)
    emb = torch.randn(5, WIDTH, generator=generator)
    aligned = emb + 0.5 * torch.randn(5, WIDTH, generator=generator)
    # Videos stored in shuffled order; texts 0-1 belong to video 7, 2 to 3, 3-4 to 9.
    frames = torch.randn(3, 4, WIDTH, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    features = dict(
        text=dict(emb=emb, aligned=aligned, video_index=torch.tensor([7, 7, 3, 9, 9])),
        video=dict(frames=frames, frame_mask=mask, index=torch.tensor([3, 9, 7])))
    stats = tool.gap_statistics(model, features, norm='l1')

    column = {7: 2, 3: 0, 9: 1}
    for k, video in enumerate([7, 7, 3, 9, 9]):
        j = column[video]
        with torch.no_grad():
            pooled = model.pooling(emb[k:k + 1], frames[j:j + 1], mask[j:j + 1])[0, 0]
        assert torch.isclose(stats['gap_before'][k], (pooled - emb[k]).abs().sum(), rtol=1e-5)
        assert torch.isclose(stats['gap_after'][k], (pooled - aligned[k]).abs().sum(), rtol=1e-5)
        cos = torch.nn.functional.cosine_similarity
        expected = cos(aligned[k], pooled, dim=0) - cos(emb[k], pooled, dim=0)
        assert torch.isclose(stats['cos_diff'][k], expected, atol=1e-6)

    assert 'v0 ' in tool.summary('model', stats, 'l1')
