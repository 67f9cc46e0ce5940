"""The shared sinusoidal embeddings and the timestep embedder in both layouts."""
import math

import pytest
import torch

from mmdret.models.utils import (SinusoidalTable, TimestepEmbedder, sinusoidal_embedding,
                                 sinusoidal_table)


def reference(k, j, dim, layout):
    """Entry ``[k, j]`` written out from the formula, in float64."""
    if layout == 'interleaved':
        i, use_sin = j // 2, j % 2 == 0
    else:
        i, use_sin = j % (dim // 2), j >= dim // 2
    angle = k / 10000 ** (2 * i / dim)
    return math.sin(angle) if use_sin else math.cos(angle)


@pytest.mark.parametrize('layout', ['interleaved', 'concatenated'])
def test_layouts_match_formula(layout):
    dim, positions = 16, torch.tensor([0, 1, 7, 49, 999])
    embedding = sinusoidal_embedding(positions, dim, layout)
    assert embedding.shape == (5, dim) and embedding.dtype == torch.float32
    for row, k in enumerate(positions.tolist()):
        for j in range(dim):
            assert embedding[row, j].item() == pytest.approx(reference(k, j, dim, layout),
                                                             abs=1e-5)


def test_layouts_hold_the_same_sinusoids_in_another_order():
    positions = torch.arange(30)
    interleaved = sinusoidal_embedding(positions, 8, 'interleaved')
    concatenated = sinusoidal_embedding(positions, 8, 'concatenated')
    assert torch.equal(concatenated[:, 4:], interleaved[:, 0::2])  # sin
    assert torch.equal(concatenated[:, :4], interleaved[:, 1::2])  # cos


def test_table_is_the_interleaved_embedding_of_its_rows():
    assert torch.equal(sinusoidal_table(20, 12),
                       sinusoidal_embedding(torch.arange(20), 12, 'interleaved'))
    assert SinusoidalTable(20, 12).pe.shape == (20, 1, 12)


def test_bad_layout_and_odd_width_are_rejected():
    with pytest.raises(ValueError, match='layout'):
        sinusoidal_embedding(torch.arange(3), 8, 'halves')
    with pytest.raises(ValueError, match='even width'):
        sinusoidal_embedding(torch.arange(3), 7)
    with pytest.raises(ValueError, match='layout'):
        TimestepEmbedder(8, layout='halves')


def test_interleaved_embedder_state_dict_and_table_sharing():
    table = SinusoidalTable(10, 8)
    embedder = TimestepEmbedder(8, layout='interleaved', table=table)
    assert embedder.sequence_pos_encoder is table
    assert [(k, tuple(v.shape)) for k, v in embedder.state_dict().items()] == [
        ('sequence_pos_encoder.pe', (10, 1, 8)), ('time_embed.0.weight', (8, 8)),
        ('time_embed.0.bias', (8, )), ('time_embed.2.weight', (8, 8)),
        ('time_embed.2.bias', (8, ))]
    assert TimestepEmbedder(8, max_timesteps=10).sequence_pos_encoder.pe.shape == (10, 1, 8)


def test_concatenated_embedder_state_dict_has_no_table():
    embedder = TimestepEmbedder(8, layout='concatenated', frequency_dim=6)
    assert [(k, tuple(v.shape)) for k, v in embedder.state_dict().items()] == [
        ('mlp.0.weight', (8, 6)), ('mlp.0.bias', (8, )), ('mlp.2.weight', (8, 8)),
        ('mlp.2.bias', (8, ))]


@pytest.mark.parametrize('layout', ['interleaved', 'concatenated'])
def test_embedder_is_the_mlp_of_the_sinusoid(layout):
    torch.manual_seed(0)
    embedder = TimestepEmbedder(8, layout=layout, frequency_dim=8, max_timesteps=50).double()
    timesteps = torch.tensor([0, 3, 49])
    mlp = embedder.time_embed if layout == 'interleaved' else embedder.mlp
    sinusoid = sinusoidal_embedding(timesteps, 8, layout).double()
    out = embedder(timesteps)
    assert out.dtype == torch.float64 and out.shape == (3, 8)
    torch.testing.assert_close(out, mlp(sinusoid))
