"""CLIP weights as safetensors (open_clip's ``open_clip_model.safetensors``): told by the file's
header whatever its name, the same encoder features as the same weights in a ``.pt`` state
dict, and a truncated, corrupt or disguised file refused with an error naming it, nothing in
it ever unpickled."""
import pickle
import re

import pytest
import torch
from open_clip.model import CLIP
from safetensors.torch import save_file

from integration.test_malicious_files import Payload
from mmdret.models.encoders import CLIPTextFrameEncoder, read_clip_state_dict

# tiny-64, spelled out independently of mmdret's table.
TINY64 = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(context_length=32, vocab_size=49408, width=64, heads=2, layers=2))


@pytest.fixture(scope='module')
def weights():
    """A separately seeded tiny CLIP's state dict, every value moved off its init."""
    torch.manual_seed(4321)
    state_dict = CLIP(**TINY64, quick_gelu=True).state_dict()
    gen = torch.Generator().manual_seed(7)
    return {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in state_dict.items()}


@pytest.fixture
def files(tmp_path, weights):
    """The same weights as a ``.pt`` state dict, as open_clip's ``open_clip_model.safetensors``,
    as that file renamed ``.bin``, and in fp16 with a ``module.`` prefix (a saved DDP model)
    under a name without extension."""
    torch.save(weights, tmp_path / 'state_dict.pt')
    save_file({k: v.contiguous() for k, v in weights.items()},
              str(tmp_path / 'open_clip_model.safetensors'))
    (tmp_path / 'renamed.bin').write_bytes((tmp_path / 'open_clip_model.safetensors').read_bytes())
    save_file({'module.' + k: v.half().contiguous() for k, v in weights.items()},
              str(tmp_path / 'clip_fp16_ddp'))
    return {name: str(tmp_path / name) for name in
            ('state_dict.pt', 'open_clip_model.safetensors', 'renamed.bin', 'clip_fp16_ddp')}


def encoder(pretrained=None):
    torch.manual_seed(0)  # the same temporal-transformer init for every build
    return CLIPTextFrameEncoder(arch='tiny-64', pretrained=pretrained, temporal_layers=2,
                                temporal_heads=2).eval()


def features(enc):
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(1, 49000, (2, 10), generator=gen)
    tokens[:, 0], tokens[0, 6], tokens[0, 7:], tokens[1, 9] = 49406, 49407, 0, 49407
    frames = torch.randn(2, 4, 3, 32, 32, generator=gen)
    with torch.no_grad():
        text, eot = enc.encode_text(tokens, (tokens > 0).long())
        video = enc.encode_video(frames, torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]))
    return text, eot, video


@pytest.mark.parametrize('name', ['open_clip_model.safetensors', 'renamed.bin'])
def test_safetensors_gives_the_features_of_the_pt_state_dict(files, weights, name):
    state_dict = read_clip_state_dict(files[name])
    assert set(state_dict) == set(weights)
    for key, value in weights.items():
        assert state_dict[key].dtype == torch.float32 and torch.equal(state_dict[key], value), key

    reference = features(encoder(files['state_dict.pt']))
    for got, expected in zip(features(encoder(files[name])), reference):
        assert torch.equal(got, expected)
    # The weights really came from the file: a random CLIP's features differ.
    assert not torch.allclose(features(encoder())[1], reference[1])


def test_fp16_safetensors_with_module_prefix(files, weights):
    state_dict = read_clip_state_dict(files['clip_fp16_ddp'])
    assert set(state_dict) == set(weights)
    for key, value in weights.items():
        assert state_dict[key].dtype == torch.float32, key
        assert torch.equal(state_dict[key], value.half().float()), key
    loaded = encoder(files['clip_fp16_ddp']).clip.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state_dict.items())


# (name, bytes kept: negative counts from the end); a ``.bin`` is told by its content.
@pytest.mark.parametrize('name,keep', [
    ('cut.safetensors', -100),  # the last tensor cut short
    ('cut.safetensors', 40),  # inside the JSON header
    ('cut.safetensors', 5),  # not even the header length
    ('cut.bin', -100),
    ('cut.bin', 40),
])
def test_truncated_file_is_refused_naming_it(files, tmp_path, name, keep):
    path = tmp_path / name
    path.write_bytes(open(files['open_clip_model.safetensors'], 'rb').read()[:keep])
    with pytest.raises(ValueError, match=re.escape(str(path)) +
                       r': not a readable safetensors file .*truncated download'):
        read_clip_state_dict(str(path))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        encoder(str(path))


def test_pickle_named_safetensors_never_runs(tmp_path):
    marker = tmp_path / 'MARKER'
    carriers = {'evil.safetensors': pickle.dumps({'x': Payload(marker)})}
    zip_path = tmp_path / 'evil_zip.pt'
    torch.save({'w': torch.ones(1), 'meta': Payload(marker)}, zip_path)
    carriers['evil_zip.safetensors'] = zip_path.read_bytes()
    pickle.loads(carriers['evil.safetensors'])  # the payload is live
    assert marker.read_text() == 'ran'
    marker.unlink()
    for name, data in carriers.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=re.escape(str(path)) +
                           ': not a readable safetensors file'):
            read_clip_state_dict(str(path))
        assert not marker.exists(), f'{name} ran its payload'
