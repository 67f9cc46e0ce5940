"""DiffusionRet model: stage-1 gradients, stage-2 freezing, scoring interface."""
import torch
from mmengine.structures import BaseDataElement

from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

WIDTH = 64


def build(stage2):
    register_all_modules()
    cfg = dict(
        type='DiffusionRet',
        encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=1,
                     temporal_heads=2),
        similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH, hidden_dim=2 * WIDTH))
    if stage2:
        cfg['reranker'] = dict(
            type='DiffusionReranker',
            t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
            v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
            scheduler=dict(type='DDIMScheduler', num_train_timesteps=10), num_inference_steps=3,
            topk=3, num_negatives=3)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def batch(num_items=4, num_frames=3):
    generator = torch.Generator().manual_seed(1)
    text = torch.randint(1, 1000, (num_items, 12), generator=generator)
    text[:, 0], text[:, 8], text[:, 9:] = 49406, 49407, 0
    video_mask = torch.ones(num_items, num_frames, dtype=torch.long)
    video_mask[0, -1] = 0
    inputs = dict(video=torch.randn(num_items, num_frames, 3, 32, 32, generator=generator),
                  video_mask=video_mask, text=text, text_mask=(text > 0).long())
    samples = [BaseDataElement(metainfo=dict(video_idx=i, text_idx=[i]))
               for i in range(num_items)]
    return inputs, samples


def grads(model, prefix):
    # The weight MLPs' last bias shifts every logit of a softmax equally: its gradient is 0.
    return [p.grad for n, p in model.named_parameters()
            if n.startswith(prefix) and not n.endswith('weight_fc.2.bias')]


def test_stage1_loss_trains_encoder_and_similarity_head_but_not_conv1():
    model = build(stage2=False)
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_contrastive', 'logit_scale'}
    losses['loss_contrastive'].backward()
    assert model.encoder.clip.visual.conv1.weight.grad is None
    assert model.encoder.clip.logit_scale.grad is not None
    for prefix in ('encoder.temporal_transformer', 'encoder.clip.transformer',
                   'similarity_head.text_weight_fc', 'similarity_head.video_weight_fc'):
        assert all(g is not None and g.abs().sum() > 0 for g in grads(model, prefix)), prefix


def test_stage2_freezes_everything_but_the_denoisers():
    model = build(stage2=True)
    assert model.stage == 'generation'
    trainable = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'reranker'}
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_generation_t2v', 'loss_generation_v2t', 'contrastive'}
    assert not losses['contrastive'].requires_grad
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(g is None for g in grads(model, 'encoder'))
    assert all(g is None for g in grads(model, 'similarity_head'))
    for prefix in ('reranker.t2v_denoiser', 'reranker.v2t_denoiser'):
        assert all(g is not None for g in grads(model, prefix)), prefix


def test_stage2_scores_rerank_only_the_top_k_upwards():
    model = build(stage2=True).eval()
    inputs, samples = batch(num_items=5)
    with torch.no_grad():
        features = model.extract_feat(inputs, samples)
        base = model.similarity_head.similarity(features['text'], features['video'])
        scores = model.score('t2v', features['text'], features['video'])
    changed = scores != base
    assert (changed.sum(dim=1) == 3).all()  # topk=3 of 5 candidates
    assert (scores >= base).all()
    top = base.topk(3, dim=1).indices
    assert torch.equal(changed, torch.zeros_like(changed).scatter_(1, top, True))
