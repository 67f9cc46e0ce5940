"""The retriever contract (``BaseRetriever``) that every mmdret retriever implements, checked
the same way for DiffusionRet (stage 1 and 2), X-Pool and DITS: features and their indices,
chunked scoring, predict data samples (mmaction2's ``RetrievalMetric``), training losses, and
text-only / video-only extraction."""

import pytest
import torch
from mmaction.evaluation import RetrievalMetric
from mmengine.structures import BaseDataElement

from mmdret.evaluation.functional import slice_features
from mmdret.models.retrievers.base_retriever import BaseRetriever
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

WIDTH = 64
ENCODER = dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=1,
               temporal_heads=2, freeze_patch_embed=False)
DIFFUSIONRET = dict(
    type='DiffusionRet', encoder=ENCODER,
    similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH, hidden_dim=2 * WIDTH))
RERANKER = dict(
    type='DiffusionReranker', t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
    v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
    scheduler=dict(type='DDIMScheduler', num_train_timesteps=10), num_inference_steps=3,
    topk=3, num_negatives=3)
XPOOL = dict(type='XPool', encoder=dict(ENCODER, temporal_layers=0),
             pooling=dict(type='XPoolFramePooling', embed_dim=WIDTH))
MODEL_CFGS = {
    'diffusionret_stage1': DIFFUSIONRET,
    'diffusionret_stage2': dict(DIFFUSIONRET, reranker=RERANKER),
    'xpool': XPOOL,
    'dits': dict(XPOOL, type='DITS', aligner=dict(type='DITSAligner', embed_dim=WIDTH, depth=1,
                                                  num_heads=4, truncated_steps=3)),
}
# (video_idx, [text_idx, ...]) of a test batch: a video with two captions, one with three.
CAPTIONS = [(3, [5]), (0, [0, 1]), (7, [9]), (2, [2, 3, 4]), (5, [7])]
NUM_FRAMES = 3


@pytest.fixture(scope='module', params=list(MODEL_CFGS))
def model(request):
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(MODEL_CFGS[request.param])
    model.init_weights()
    with torch.no_grad():  # move zero-initialised parts (DITS' adaLN-Zero) off zero
        for name, p in model.named_parameters():
            if name.startswith('aligner.'):
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def batch(captions=CAPTIONS):
    generator = torch.Generator().manual_seed(1)
    num_texts = sum(len(ks) for _, ks in captions)
    text = torch.randint(1, 1000, (num_texts, 12), generator=generator)
    text[:, 0], text[:, 8], text[:, 9:] = 49406, 49407, 0
    text[1, 5:] = 0  # a shorter caption
    text[1, 4] = 49407
    video_mask = torch.ones(len(captions), NUM_FRAMES, dtype=torch.long)
    video_mask[0, -1] = 0  # a padded frame
    video = torch.randn(len(captions), NUM_FRAMES, 3, 32, 32, generator=generator)
    inputs = dict(video=video * video_mask[:, :, None, None, None], video_mask=video_mask,
                  text=text, text_mask=(text > 0).long())
    samples = [BaseDataElement(metainfo=dict(video_idx=v, text_idx=list(ks)))
               for v, ks in captions]
    return inputs, samples


def assert_features_equal(actual, expected):
    assert set(actual) == set(expected)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=key)


def test_is_a_base_retriever(model):
    assert isinstance(model, BaseRetriever)


def test_features_keys_shapes_and_indices(model):
    inputs, samples = batch()
    with torch.no_grad():
        features = model(inputs, samples, mode='tensor')
    text, video = features['text'], features['video']
    num_texts, num_videos = inputs['text'].shape[0], inputs['video'].shape[0]
    assert text['index'].tolist() == [k for _, ks in CAPTIONS for k in ks]
    assert text['video_index'].tolist() == [v for v, ks in CAPTIONS for _ in ks]
    assert video['index'].tolist() == [v for v, _ in CAPTIONS]
    assert video['corrupt'].dtype == torch.bool and not video['corrupt'].any()
    assert {'index', 'video_index'} < set(text) and {'index', 'corrupt'} < set(video)
    for key, value in text.items():
        assert value.shape[0] == num_texts, key
    for key, value in video.items():
        assert value.shape[0] == num_videos, key
    # Without data samples (free text, a folder of videos) items are numbered 0..N-1.
    with torch.no_grad():
        bare = model.extract_feat(inputs)
    assert bare['text']['index'].tolist() == list(range(num_texts))
    assert 'video_index' not in bare['text']
    assert bare['video']['index'].tolist() == list(range(num_videos))


@pytest.mark.parametrize('direction', ['t2v', 'v2t'])
def test_chunked_score_equals_full_score(model, direction):
    inputs, samples = batch()
    with torch.no_grad():
        features = model.extract_feat(inputs, samples)
        queries, candidates = ((features['text'], features['video']) if direction == 't2v'
                               else (features['video'], features['text']))
        full = model.score(direction, queries, candidates)
        num_queries = queries['index'].numel()
        chunks = [model.score(direction, slice_features(queries, slice(s, s + 2)), candidates)
                  for s in range(0, num_queries, 2)]
    assert full.shape == (num_queries, candidates['index'].numel())
    assert torch.isfinite(full).all()
    torch.testing.assert_close(torch.cat(chunks), full)
    # Not constant: the scores tell candidates apart.
    assert full.std() > 0


def test_predict_gives_data_samples_for_mmaction_retrieval_metric(model):
    inputs, samples = batch()
    with torch.no_grad():
        features = model.extract_feat(inputs, samples)
        outputs = model(inputs, samples, mode='predict')
    text_emb = model.embed('text', features['text'])
    video_emb = model.embed('video', features['video'])
    assert len(outputs) == len(CAPTIONS)
    first_caption = 0
    for i, (output, (video_idx, text_idx)) in enumerate(zip(outputs, CAPTIONS)):
        assert output.metainfo['video_idx'] == video_idx
        feats = output.features
        assert feats['text_feature'].shape == feats['video_feature'].shape == (text_emb.shape[1], )
        torch.testing.assert_close(feats['text_feature'], text_emb[first_caption])
        torch.testing.assert_close(feats['video_feature'], video_emb[i])
        assert feats['video_feature'].norm().item() == pytest.approx(1.0, abs=1e-5)
        first_caption += len(text_idx)
    metric = RetrievalMetric()
    metric.process(None, [output.to_dict() for output in outputs])
    results = metric.compute_metrics(metric.results)
    assert set(results) == {'R1', 'R5', 'R10', 'MdR', 'MnR'}
    assert 1 <= results['MnR'] <= len(CAPTIONS)


def test_loss_is_finite_and_trains(model):
    inputs, samples = batch([(v, ks[:1]) for v, ks in CAPTIONS])  # one caption per item
    model.train()
    try:
        model.zero_grad()
        losses = model(inputs, samples, mode='loss')
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(total) and total.requires_grad
        total.backward()
    finally:
        model.eval()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.zero_grad()


def test_text_only_and_video_only_extraction_equal_the_joint_one(model):
    inputs, samples = batch()
    text_inputs = {k: v for k, v in inputs.items() if k.startswith('text')}
    video_inputs = {k: v for k, v in inputs.items() if k.startswith('video')}
    with torch.no_grad():
        joint = model.extract_feat(inputs, samples)
        assert_features_equal(model.extract_text_feat(text_inputs, samples), joint['text'])
        assert_features_equal(model.extract_video_feat(video_inputs, samples), joint['video'])


def test_forward_rejects_unknown_mode(model):
    inputs, samples = batch()
    with pytest.raises(ValueError, match="mode must be 'loss', 'tensor' or 'predict'"):
        model(inputs, samples, mode='features')
