"""CLIP text-frame encoder: weight loading, freezing, the temporal init trick,
text/video encoding and the demo motion stem. Tiny CLIPs only; nothing touches a hub."""
import re

import pytest
import torch
from open_clip.model import CLIP
from torch import nn

from mmdret.models.encoders import CLIPTextFrameEncoder, read_clip_state_dict
from mmdret.models.encoders.clip_builder import _JIT_ONLY_KEYS

EOT, SOT = 49407, 49406
# The tiny-64 architecture spelled out here independently of mmdret's TINY_ARCHS table.
TINY64 = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(context_length=32, vocab_size=49408, width=64, heads=2, layers=2))
TEXT_BLOCK_KEYS = ['attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight',
                   'attn.out_proj.bias', 'ln_1.weight', 'ln_1.bias', 'ln_2.weight', 'ln_2.bias',
                   'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']


def spec_clip_keys(vision_layers=2, text_layers=2):
    """The ``clip.`` key set of the official checkpoints (prefix removed) for the given depths."""
    keys = {'positional_embedding', 'text_projection', 'logit_scale', 'token_embedding.weight',
            'ln_final.weight', 'ln_final.bias', 'visual.class_embedding',
            'visual.positional_embedding', 'visual.proj', 'visual.conv1.weight',
            'visual.ln_pre.weight', 'visual.ln_pre.bias', 'visual.ln_post.weight',
            'visual.ln_post.bias'}
    keys |= {f'visual.transformer.resblocks.{i}.{k}' for i in range(vision_layers)
             for k in TEXT_BLOCK_KEYS}
    keys |= {f'transformer.resblocks.{i}.{k}' for i in range(text_layers) for k in TEXT_BLOCK_KEYS}
    return keys


def encoder(**kwargs):
    kwargs = dict(arch='tiny-64', temporal_layers=2, temporal_heads=2, **kwargs)
    return CLIPTextFrameEncoder(**kwargs)


@pytest.fixture(scope='module')
def source_state_dict():
    """OpenAI-format weights of a separately built tiny CLIP (its own seed, perturbed)."""
    torch.manual_seed(1234)
    clip = CLIP(**TINY64, quick_gelu=True)
    state_dict = clip.state_dict()
    # Non-default values everywhere (LayerNorms are 1/0 at init, logit_scale is ln(1/0.07)).
    gen = torch.Generator().manual_seed(99)
    return {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in state_dict.items()}


def assert_clip_equals(enc, state_dict):
    loaded = enc.clip.state_dict()
    assert set(loaded) == set(state_dict)
    for key, value in state_dict.items():
        assert loaded[key].dtype == torch.float32, key
        assert torch.equal(loaded[key], value.float()), key


def test_source_is_openai_format(source_state_dict):
    assert set(source_state_dict) == spec_clip_keys()


def test_load_openai_state_dict(tmp_path, source_state_dict):
    path = tmp_path / 'openai_state_dict.pt'
    torch.save(source_state_dict, path)
    torch.manual_seed(0)
    enc = encoder(pretrained=str(path))
    assert_clip_equals(enc, source_state_dict)
    # Random init differs from the file: the load really happened.
    torch.manual_seed(0)
    assert not torch.equal(encoder().clip.text_projection, source_state_dict['text_projection'])


def test_load_open_clip_checkpoint_with_module_prefix(tmp_path, source_state_dict):
    path = tmp_path / 'epoch_3.pt'
    torch.save({'epoch': 3, 'name': 'x',
                'state_dict': {'module.' + k: v for k, v in source_state_dict.items()}}, path)
    assert_clip_equals(encoder(pretrained=str(path)), source_state_dict)


def test_load_fp16_state_dict_converted_to_fp32(tmp_path, source_state_dict):
    half = {k: v.half() for k, v in source_state_dict.items()}
    path = tmp_path / 'fp16.pt'
    torch.save(half, path)
    state_dict = read_clip_state_dict(str(path))
    assert all(v.dtype == torch.float32 for v in state_dict.values())
    assert_clip_equals(encoder(pretrained=str(path)), half)


class _ArchiveCLIP(nn.Module):
    """A CLIP laid out as OpenAI's TorchScript archive: same keys plus the jit-only entries."""

    def __init__(self, clip):
        super().__init__()
        for name, child in clip.named_children():
            setattr(self, name, child)
        for name, param in clip.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name in _JIT_ONLY_KEYS:
            self.register_buffer(name, torch.tensor(7))

    def forward(self, tokens):
        return self.token_embedding(tokens) + self.positional_embedding


def test_load_torchscript_archive_fp16(tmp_path, source_state_dict):
    assert set(_JIT_ONLY_KEYS) == {'input_resolution', 'context_length', 'vocab_size'}
    clip = CLIP(**TINY64, quick_gelu=True)
    clip.load_state_dict(source_state_dict)
    scripted = torch.jit.script(_ArchiveCLIP(clip).half().eval())
    path = tmp_path / 'ViT-tiny.pt'
    scripted.save(str(path))
    raw = torch.jit.load(str(path)).state_dict()
    assert set(_JIT_ONLY_KEYS) <= set(raw)
    assert raw['visual.proj'].dtype == torch.float16

    state_dict = read_clip_state_dict(str(path))
    assert set(state_dict) == spec_clip_keys()  # jit-only keys removed
    assert all(v.dtype == torch.float32 for v in state_dict.values())
    half = {k: v.half() for k, v in source_state_dict.items()}
    assert_clip_equals(encoder(pretrained=str(path)), half)


def test_mismatching_file_raises_key_error_naming_keys(tmp_path, source_state_dict):
    bad = dict(source_state_dict)
    del bad['ln_final.bias']
    bad['visual.extra_head.weight'] = torch.zeros(3)
    path = tmp_path / 'bad.pt'
    torch.save(bad, path)
    with pytest.raises(KeyError) as info:
        encoder(pretrained=str(path))
    message = str(info.value)
    assert 'ln_final.bias' in message and 'visual.extra_head.weight' in message


def test_missing_file_raises_file_not_found_naming_path(tmp_path):
    path = str(tmp_path / 'nowhere' / 'ViT-B-32.pt')
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        encoder(pretrained=path)


def test_patch_embed_frozen_by_default():
    enc = encoder()
    assert not enc.clip.visual.conv1.weight.requires_grad
    frozen = [n for n, p in enc.named_parameters() if not p.requires_grad]
    assert frozen == ['clip.visual.conv1.weight']
    assert encoder(freeze_patch_embed=False).clip.visual.conv1.weight.requires_grad


def test_temporal_transformer_initialised_from_text_layers(tmp_path, source_state_dict):
    path = tmp_path / 'w.pt'
    torch.save(source_state_dict, path)
    enc = encoder(pretrained=str(path))
    assert len(enc.temporal_transformer.resblocks) == 2
    for i, block in enumerate(enc.temporal_transformer.resblocks):
        block_sd = block.state_dict()
        assert set(block_sd) == set(TEXT_BLOCK_KEYS)
        for key in TEXT_BLOCK_KEYS:
            assert torch.equal(block_sd[key], source_state_dict[f'transformer.resblocks.{i}.{key}'])
    assert torch.equal(enc.frame_position_embeddings.weight,
                       source_state_dict['positional_embedding'])
    # Without the trick the blocks are freshly initialised.
    other = encoder(pretrained=str(path), init_temporal_from_text=False)
    assert not torch.equal(other.temporal_transformer.resblocks[0].attn.in_proj_weight,
                           source_state_dict['transformer.resblocks.0.attn.in_proj_weight'])
    assert not torch.equal(other.frame_position_embeddings.weight,
                           source_state_dict['positional_embedding'])


def test_temporal_layers_fewer_than_text_layers_take_the_first_ones():
    enc = CLIPTextFrameEncoder(arch='tiny-64', temporal_layers=1, temporal_heads=2)
    assert torch.equal(enc.temporal_transformer.resblocks[0].mlp.c_fc.weight,
                       enc.clip.transformer.resblocks[0].mlp.c_fc.weight)


def test_temporal_layer_norm_eps():
    enc = encoder()
    norms = [m for m in enc.temporal_transformer.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 4  # ln_1, ln_2 per block
    assert all(m.eps == 1e-12 for m in norms)
    # CLIP's own text LayerNorms keep 1e-5.
    assert enc.clip.transformer.resblocks[0].ln_1.eps == 1e-5
    custom = encoder(temporal_ln_eps=1e-5)
    assert all(m.eps == 1e-5 for m in custom.temporal_transformer.modules()
               if isinstance(m, nn.LayerNorm))


def make_tokens(lengths, context=32, seed=0):
    """SOT, random word ids, EOT, zero padding (the EOT id is the largest, as in CLIP's BPE)."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(len(lengths), context, dtype=torch.long)
    mask = torch.zeros(len(lengths), context, dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, 0] = SOT
        tokens[i, 1:n - 1] = torch.randint(1, 49000, (n - 2,), generator=gen)
        tokens[i, n - 1] = EOT
        mask[i, :n] = 1
    return tokens, mask


def test_encode_text_eot_feature_at_argmax():
    torch.manual_seed(0)
    enc = encoder().eval()
    tokens, mask = make_tokens([5, 9, 32])
    with torch.no_grad():
        features, eot = enc.encode_text(tokens, mask)
        reference = enc.clip.encode_text(tokens)  # open_clip's own argmax pooling
    assert features.shape == (3, 32, 64) and eot.shape == (3, 64)
    torch.testing.assert_close(eot, reference, rtol=1e-5, atol=1e-5)
    for i, n in enumerate([5, 9, 32]):
        torch.testing.assert_close(eot[i], features[i, n - 1])
        assert bool((features[i, n:] == 0).all())
        assert features[i, :n].abs().sum() > 0


def test_encode_text_real_tokens_ignore_padding_length():
    torch.manual_seed(0)
    enc = encoder().eval()
    tokens, mask = make_tokens([5, 9], context=32)
    with torch.no_grad():
        long_features, long_eot = enc.encode_text(tokens, mask)
        short_features, short_eot = enc.encode_text(tokens[:, :12], mask[:, :12])
    torch.testing.assert_close(short_features, long_features[:, :12], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(short_eot, long_eot, rtol=1e-5, atol=1e-6)


def random_frames(batch=2, frames=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, 32, 32, generator=gen)


def test_encode_video_valid_frames_ignore_padded_frames():
    torch.manual_seed(0)
    enc = encoder().eval()
    frames = random_frames()
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    other = frames.clone()
    other[mask == 0] = torch.randn(int((mask == 0).sum()), 3, 32, 32) * 3
    with torch.no_grad():
        out = enc.encode_video(frames, mask)
        out_other = enc.encode_video(other, mask)
        changed_valid = frames.clone()
        changed_valid[:, 0] = torch.randn(2, 3, 32, 32)
        out_changed_valid = enc.encode_video(changed_valid, mask)
    assert out.shape == (2, 4, 64)
    valid = mask.bool()
    torch.testing.assert_close(out[valid], out_other[valid], rtol=0, atol=1e-6)
    # Padded frames still get (different) non-zero features (as in the official encoder) ...
    assert not torch.allclose(out[~valid], out_other[~valid])
    # ... and valid frames do attend to each other.
    assert not torch.allclose(out[:, 1], out_changed_valid[:, 1])


def test_aggregate_frames_equals_unpadded_sequence():
    """f + Transformer(f + pos) with a key-padding mask == the same on the valid prefix alone."""
    torch.manual_seed(0)
    enc = encoder().eval()
    features = torch.randn(1, 6, 64)
    with torch.no_grad():
        padded = enc.aggregate_frames(features, torch.tensor([[1, 1, 1, 0, 0, 0]]))
        prefix = enc.aggregate_frames(features[:, :3], torch.ones(1, 3, dtype=torch.long))
        positions = enc.frame_position_embeddings.weight[:3]
        manual = features[:, :3] + enc.temporal_transformer(features[:, :3] + positions)
    torch.testing.assert_close(padded[:, :3], prefix, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(prefix, manual, rtol=1e-5, atol=1e-5)


def test_encode_frames_is_per_frame_without_motion_stem():
    torch.manual_seed(0)
    enc = encoder().eval()
    frames = random_frames()
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = enc.encode_frames(frames)
        permuted = enc.encode_frames(frames[:, perm])
    torch.testing.assert_close(permuted, out[:, perm], rtol=1e-5, atol=1e-6)


def test_motion_stem_has_six_channels_and_depends_on_order():
    torch.manual_seed(0)
    enc = encoder(motion_stem_offset=2).eval()
    assert enc.clip.visual.conv1.weight.shape[1] == 6
    frames = random_frames()
    # Reference: the six-channel stem [f_t, f_{t+2} - f_t] (last frame past the end) through
    # a plain strided convolution, then the rest of CLIP's image tower.
    later = torch.cat([frames[:, 2:], frames[:, -1:].expand(-1, 2, -1, -1, -1)], 1)
    stem = torch.cat([frames, later - frames], dim=2).flatten(0, 1)
    conv = nn.Conv2d(6, enc.clip.visual.conv1.out_channels, 16, 16, bias=False)
    conv.weight.data.copy_(enc.clip.visual.conv1.weight)
    with torch.no_grad():
        out = enc.encode_frames(frames)
        enc.clip.visual.conv1 = conv
        expected = enc.clip.encode_image(stem).view(out.shape)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    perm = torch.tensor([2, 0, 3, 1])
    enc = encoder(motion_stem_offset=2).eval()
    with torch.no_grad():
        out = enc.encode_frames(frames)
        permuted = enc.encode_frames(frames[:, perm])
    assert not torch.allclose(permuted, out[:, perm], atol=1e-4)


@pytest.mark.parametrize('quick_gelu', [True, False])
def test_quick_gelu_activation(quick_gelu):
    enc = encoder(quick_gelu=quick_gelu)
    for act in (enc.clip.transformer.resblocks[0].mlp.gelu,
                enc.clip.visual.transformer.resblocks[0].mlp.gelu):
        x = torch.linspace(-4, 4, 41)
        if quick_gelu:
            assert type(act).__name__ == 'QuickGELU'
            torch.testing.assert_close(act(x), x * torch.sigmoid(1.702 * x))
        else:
            assert isinstance(act, nn.GELU)
            assert not torch.allclose(act(x), x * torch.sigmoid(1.702 * x), atol=1e-3)
    # The temporal transformer uses QuickGELU in any case (official module_cross).
    temporal_act = enc.temporal_transformer.resblocks[0].mlp.gelu
    torch.testing.assert_close(temporal_act(torch.tensor([1.0])),
                               torch.tensor([1.0]) * torch.sigmoid(torch.tensor([1.702])))


def test_logit_scale_is_clip_parameter():
    enc = encoder()
    assert enc.logit_scale is enc.clip.logit_scale
