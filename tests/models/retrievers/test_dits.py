"""X-Pool / DITS retrievers: shapes, leak-freedom of the scores, gradients of the loss."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

WIDTH = 64
# The vanilla variant's DDPM at a test length: T = 3, linear β 0.1 → 0.99, ε-prediction, σ² = β.
SHORT_DDPM = dict(type='DDPMScheduler', num_train_timesteps=3, beta_schedule='linear',
                  schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None),
                  prediction_type='epsilon', clip_sample=False, variance_type='fixed_large')
VANILLA = dict(variant='vanilla', condition='text', vanilla_scheduler=SHORT_DDPM)


def build(kind='DITS', **kwargs):
    register_all_modules()
    cfg = dict(type=kind,
               encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=0,
                            freeze_patch_embed=False),
               pooling=dict(type='XPoolFramePooling', embed_dim=WIDTH), **kwargs)
    if kind == 'DITS':
        cfg.setdefault('aligner', dict(type='DITSAligner', embed_dim=WIDTH, depth=2, num_heads=4,
                                       truncated_steps=3))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():  # leave the zero-init: make every part of the aligner matter
        for name, p in model.named_parameters():
            if name.startswith('aligner.'):
                p.add_(0.05 * torch.randn_like(p))
    return model


def tokens(seed):
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, 1000, (12,), generator=generator)
    text[0], text[8], text[9:] = 49406, 49407, 0
    return text


def clip_frames(video_idx, num_frames=3):
    generator = torch.Generator().manual_seed(100 + video_idx)
    return torch.randn(num_frames, 3, 32, 32, generator=generator)


def batch(captions):
    """``captions``: list of (video_idx, [text_idx, ...]); text k's tokens depend on k only."""
    text = torch.stack([tokens(k) for _, ks in captions for k in ks])
    video = torch.stack([clip_frames(v) for v, _ in captions])
    video_mask = torch.ones(video.shape[:2], dtype=torch.long)
    inputs = dict(video=video, video_mask=video_mask, text=text, text_mask=(text > 0).long())
    samples = [BaseDataElement(metainfo=dict(video_idx=v, text_idx=list(ks)))
               for v, ks in captions]
    return inputs, samples


def scores_by_index(model, captions):
    with torch.no_grad():
        features = model.extract_feat(*batch(captions))
        t2v = model.score('t2v', features['text'], features['video'])
        v2t = model.score('v2t', features['video'], features['text'])
    torch.testing.assert_close(v2t, t2v.t())
    texts, videos = features['text']['index'].tolist(), features['video']['index'].tolist()
    return {(k, i): t2v[a, b].item() for a, k in enumerate(texts) for b, i in enumerate(videos)}


VARIANTS = [('XPool', {}), ('DITS', {}), ('DITS', dict(condition='text')),
            ('DITS', dict(condition='video')), ('DITS', dict(condition='both')),
            ('DITS', dict(gap_direction='t-v')), ('DITS', dict(pool_query='aligned')),
            ('DITS', dict(variant='fixed_prior')),
            ('DITS', dict(variant='vanilla', condition='text', vanilla_scheduler=SHORT_DDPM))]


@pytest.mark.parametrize('kind,kwargs', VARIANTS)
def test_scores_do_not_depend_on_other_captions_of_a_video(kind, kwargs):
    model = build(kind, **kwargs).eval()
    # Set A: 3 videos with 2-3 captions each; set B drops captions, adds one, reorders videos.
    set_a = [(0, [0, 1, 2]), (1, [3, 4]), (2, [5, 6])]
    set_b = [(2, [6]), (0, [1, 7]), (1, [4])]
    a, b = scores_by_index(model, set_a), scores_by_index(model, set_b)
    shared = set(a) & set(b)
    assert len(shared) == 3 * 3
    for pair in shared:
        assert a[pair] == pytest.approx(b[pair], abs=1e-5), pair


def test_feature_and_score_shapes_with_unequal_text_and_video_counts():
    model = build().eval()
    features = model.extract_feat(*batch([(0, [0, 1, 2]), (1, [3])]))
    text, video = features['text'], features['video']
    assert text['emb'].shape == text['aligned'].shape == (4, WIDTH)
    assert text['video_index'].tolist() == [0, 0, 0, 1]
    assert video['frames'].shape == (2, 3, WIDTH) and video['index'].tolist() == [0, 1]
    assert model.score('t2v', text, video).shape == (4, 2)
    assert model.score('v2t', video, text).shape == (2, 4)
    # Evaluation noise is fixed per text: two extractions agree.
    again = model.extract_feat(*batch([(0, [0, 1, 2]), (1, [3])]))
    torch.testing.assert_close(again['text']['aligned'], text['aligned'])


def test_zero_truncated_steps_is_xpool():
    xpool = build('XPool').eval()
    dits = build('DITS', truncated_steps=0).eval()
    dits.load_state_dict(xpool.state_dict(), strict=False)
    captions = [(0, [0, 1]), (1, [2])]
    assert scores_by_index(xpool, captions) == pytest.approx(scores_by_index(dits, captions))


@pytest.mark.parametrize('kwargs', [{}, dict(gap_direction='t-v', condition='both'), VANILLA])
def test_loss_backward_reaches_clip_pooling_and_aligner(kwargs):
    model = build(**kwargs).train()
    losses = model.loss(*batch([(v, [v]) for v in range(4)]))
    assert set(losses) == {'loss_contrastive', 'logit_scale'}
    losses['loss_contrastive'].backward()
    for prefix in ('encoder.clip.transformer', 'encoder.clip.visual', 'encoder.clip.logit_scale',
                   'pooling.', 'aligner.'):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), prefix
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_freeze_clip_trains_pooling_and_aligner_only():
    model = build(freeze_clip=True).train()
    assert not model.encoder.training
    trainable = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'pooling', 'aligner'}
    model.loss(*batch([(v, [v]) for v in range(3)]))['loss_contrastive'].backward()


def test_vanilla_chain_matches_hand_unrolled_ddpm():
    model = build(**VANILLA).eval()
    text = torch.randn(2, WIDTH)
    noise = torch.randn(2, 3, WIDTH)  # δ_T, then z for t = 2, 1 (none at t = 0)
    aligned = model.align_text(text, noise)
    betas = torch.linspace(0.1, 0.99, 3, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    with torch.no_grad():
        delta = noise[:, 0].double()
        for t, z in ((2, noise[:, 1]), (1, noise[:, 2]), (0, None)):
            eps = model.aligner(delta.float(), t, cond=text).double()
            delta = (delta - betas[t] / (1 - alpha_bar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
            if z is not None:
                delta = delta + betas[t].sqrt() * z.double()
    torch.testing.assert_close(aligned, (text.double() + delta).float(), rtol=1e-4, atol=1e-4)


def test_vanilla_pretrain_regresses_the_noise_of_the_ground_truth_gap():
    model = build(vanilla_pretrain=True, **VANILLA).train()
    assert not model.encoder.training and not model.pooling.training
    trainable = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'aligner'}
    inputs, samples = batch([(v, [v]) for v in range(3)])
    torch.manual_seed(5)
    loss = model.loss(inputs, samples)
    assert set(loss) == {'loss_pretrain'}
    # Independent recomputation: same RNG order (step draw, then ε), DDPM q_sample by hand.
    with torch.no_grad():
        text, frames = model.encode(inputs)
        gap = torch.stack([model.pooling(text[k:k + 1], frames[k:k + 1])[0, 0] - text[k]
                           for k in range(3)])
    torch.manual_seed(5)
    steps = torch.randint(0, 3, (3, ))
    eps = torch.randn_like(gap)
    alpha_bar = torch.cumprod(1 - torch.linspace(0.1, 0.99, 3, dtype=torch.float64), 0)[steps]
    noisy = (alpha_bar.sqrt()[:, None] * gap + (1 - alpha_bar).sqrt()[:, None] * eps).float()
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(model.aligner(noisy, steps, cond=text), eps)
    torch.testing.assert_close(loss['loss_pretrain'].detach(), expected, rtol=1e-4, atol=1e-6)
    loss['loss_pretrain'].backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith('aligner.blocks')]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('kwargs,match', [
    (dict(variant='vanilla'), "condition='text'"),
    (dict(variant='vanilla', condition='text', gap_direction='t-v'), "gap_direction='v-t'"),
    (dict(vanilla_pretrain=True), "variant='vanilla'"),
    (dict(VANILLA, vanilla_pretrain_loss='huber'), 'vanilla_pretrain_loss'),
])
def test_vanilla_rejects_inconsistent_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_default_vanilla_chain_returns_a_clamped_gap():
    # The last DDPM step returns x̂0, clamped to [-1, 1]: the gap cannot blow up through the
    # 1/√α steps of the paper's β (Eq. 7 verbatim is clip_sample=False, tested above).
    model = build(variant='vanilla', condition='text').eval()
    with torch.no_grad():
        for p in model.aligner.parameters():
            p.add_(torch.randn_like(p))
    text = torch.randn(4, WIDTH)
    gap = model.align_text(text, torch.randn(4, model.num_noise, WIDTH)) - text
    assert model.num_noise == 10 and gap.abs().max() <= 1 + 1e-5
    assert gap.abs().max() > 0.5
