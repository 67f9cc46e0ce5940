"""CLIP weights by open_clip pretrained tag: resolved through open_clip's download (replaced
here by a stand-in: nothing contacts a hub), refused at once offline naming the tag and the
local-file alternative; the zero-shot configs (CLIP4Clip mean pooling, untrained token-wise
similarity) scored against independent references with a random-weight CLIP file."""
import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmdret.models.encoders import clip_text_frame_encoder
from mmdret.models.encoders.clip_builder import build_clip, resolve_clip_weights
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

MEANP = 'configs/zeroshot/clip4clip-meanp_vit-b-32_zeroshot.py'
WTI = 'configs/zeroshot/diffusionret-wti_vit-b-32_zeroshot.py'


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('open_clip was asked to download')

    monkeypatch.setattr(open_clip.pretrained, 'download_pretrained', refuse)


@pytest.fixture
def tiny_clip_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'random_clip.pth'
    torch.save(build_clip('tiny-64').state_dict(), path)
    return str(path)


def test_tag_offline_fails_at_once(monkeypatch, no_download):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(RuntimeError, match=r"'openai' are an open_clip pretrained tag of "
                       r'ViT-B-32.*HF_HUB_OFFLINE.*local file'):
        resolve_clip_weights('ViT-B-32', 'openai')


def test_tag_online_goes_through_open_clip_download(monkeypatch, tiny_clip_file):
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    asked = []

    def download(cfg, **kwargs):
        asked.append(cfg)
        return tiny_clip_file

    monkeypatch.setattr(open_clip.pretrained, 'download_pretrained', download)
    assert resolve_clip_weights('ViT-B-32', 'openai') == tiny_clip_file
    assert asked == [open_clip.pretrained.get_pretrained_cfg('ViT-B-32', 'openai')]
    assert resolve_clip_weights('ViT-B-32', 'laion2b_s34b_b79k', quick_gelu=False)
    with pytest.raises(ValueError, match='trained with GELU.*quick_gelu=False'):
        resolve_clip_weights('ViT-B-32', 'laion2b_s34b_b79k', quick_gelu=True)


def test_local_file_and_unknown_names(tiny_clip_file, no_download):
    assert resolve_clip_weights('ViT-B-32', tiny_clip_file) == tiny_clip_file
    with pytest.raises(FileNotFoundError, match="'no_such_tag'.*tags: openai, laion400m"):
        resolve_clip_weights('ViT-B-32', 'no_such_tag')
    with pytest.raises(FileNotFoundError, match="'openai'.*tags: none"):
        resolve_clip_weights('tiny-64', 'openai')


def test_encoder_resolves_the_tag_before_building(monkeypatch, tiny_clip_file):
    calls = []

    def resolve(arch, pretrained, quick_gelu):
        calls.append((arch, pretrained, quick_gelu))
        return tiny_clip_file

    monkeypatch.setattr(clip_text_frame_encoder, 'resolve_clip_weights', resolve)
    encoder = clip_text_frame_encoder.CLIPTextFrameEncoder(arch='tiny-64', pretrained='openai',
                                                           temporal_layers=0)
    assert calls == [('tiny-64', 'openai', True)]
    expected = torch.load(tiny_clip_file, weights_only=True)
    for key, value in encoder.clip.state_dict().items():
        torch.testing.assert_close(value, expected[key])


@pytest.mark.parametrize('config', [MEANP, WTI])
def test_zeroshot_configs_refuse_the_tag_offline_before_building(config, monkeypatch,
                                                                 no_download):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')

    def no_build(*args, **kwargs):
        raise AssertionError('CLIP was built before the tag was checked')

    monkeypatch.setattr(clip_text_frame_encoder, 'build_clip', no_build)
    register_all_modules()
    cfg = Config.fromfile(config)
    assert cfg.model.encoder.pretrained == 'openai' and cfg.model.encoder.arch == 'ViT-B-32'
    with pytest.raises(RuntimeError, match="'openai'.*HF_HUB_OFFLINE"):
        MODELS.build(cfg.model)


def zeroshot_model(config, clip_file, **head):
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.encoder.update(arch='tiny-64', pretrained=clip_file)
    if head:
        cfg.model.similarity_head.update(head)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def inputs(seed=0):
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, 49000, (3, 8), generator=generator)
    text[:, 0], text[0, 5:], text[1:, 7] = 49406, 0, 49407
    text[0, 4] = 49407
    video = torch.randn(2, 4, 3, 32, 32, generator=generator)
    video_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    return dict(text=text, text_mask=(text > 0).long(), video=video, video_mask=video_mask)


def test_meanp_is_clip4clip_mean_pooling(tiny_clip_file):
    model = zeroshot_model(MEANP, tiny_clip_file)
    batch = inputs()
    with torch.no_grad():
        features = model.extract_feat(batch)
        scores = model.score('t2v', features['text'], features['video'])
        clip = build_clip('tiny-64')
        clip.load_state_dict(torch.load(tiny_clip_file, weights_only=True))
        clip.eval()
        eot = clip.encode_text(F.pad(batch['text'], (0, 24)))  # open_clip's own EOT embedding
        frames = F.normalize(clip.encode_image(batch['video'].flatten(0, 1)), dim=-1).view(
            2, 4, -1)
    mean = torch.stack([frames[0].mean(0), frames[1, :2].mean(0)])
    expected = F.normalize(eot, dim=-1) @ F.normalize(mean, dim=-1).t()
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.score('v2t', features['video'], features['text']),
                               expected.t(), atol=1e-5, rtol=1e-4)


def test_untrained_token_wise_similarity_has_uniform_weights(tiny_clip_file):
    model = zeroshot_model(WTI, tiny_clip_file, embed_dim=64, hidden_dim=128)
    batch = inputs(1)
    with torch.no_grad():
        features = model.extract_feat(batch)
        scores = model.score('t2v', features['text'], features['video'])
        clip = build_clip('tiny-64')
        clip.load_state_dict(torch.load(tiny_clip_file, weights_only=True))
        frames = F.normalize(clip.encode_image(batch['video'].flatten(0, 1)), dim=-1).view(
            2, 4, -1)
        tokens = F.normalize(features['text']['tokens'], dim=-1)
    expected = torch.empty(3, 2)
    for t in range(3):
        words = tokens[t, batch['text_mask'][t] == 1]
        for v in range(2):
            real = frames[v, batch['video_mask'][v] == 1]
            cos = words @ real.t()
            # Official WTI: padded frames/words count as 0 in the maxima.
            if real.shape[0] < 4:
                cos_t2v = torch.cat([cos, cos.new_zeros(cos.shape[0], 1)], 1)
            else:
                cos_t2v = cos
            cos_v2t = torch.cat([cos, cos.new_zeros(1, cos.shape[1])], 0) if words.shape[
                0] < 8 else cos
            expected[t, v] = (cos_t2v.max(1).values.mean() + cos_v2t.max(0).values.mean()) / 2
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)
