"""Official optimizer recipe: 4 parameter groups, BertAdam, warm-up cosine schedule."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn

from mmdret.engine.optimizers import (BertAdam, DiffusionRetOptimWrapperConstructor,
                                      WarmupCosineLR, warmup_cosine)
from mmdret.registry import OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS

BASE_LR, BASE_WD = 1e-4, 0.2


class ToyClip(nn.Module):

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(4)          # official key list: ln_1.weight keeps weight decay
        self.some = nn.Linear(4, 4)          # some.bias loses it
        self.frozen = nn.Parameter(torch.zeros(3), requires_grad=False)


class ToyModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.clip = ToyClip()
        self.encoder.proj = nn.Linear(4, 4)  # outside CLIP
        self.head = nn.Module()
        self.head.LayerNorm = nn.LayerNorm(4)


def expected_groups(model):
    clip, enc, head = model.encoder.clip, model.encoder, model.head
    return {
        (BASE_LR * 1e-3, BASE_WD): {id(clip.ln_1.weight), id(clip.some.weight)},
        (BASE_LR * 1e-3, 0.0): {id(clip.ln_1.bias), id(clip.some.bias)},
        (BASE_LR, BASE_WD): {id(enc.proj.weight)},
        (BASE_LR, 0.0): {id(enc.proj.bias), id(head.LayerNorm.weight), id(head.LayerNorm.bias)},
    }


def check_groups(optimizer, model):
    assert isinstance(optimizer, BertAdam)
    assert len(optimizer.param_groups) == 4
    actual = [(g['lr'], g['weight_decay'], {id(p) for p in g['params']})
              for g in optimizer.param_groups]
    for (lr, wd), ids in expected_groups(model).items():
        match = [group_ids for glr, gwd, group_ids in actual
                 if glr == pytest.approx(lr, rel=1e-12) and gwd == wd]
        assert match == [ids], (lr, wd)
    all_ids = set().union(*(group_ids for _, _, group_ids in actual))
    assert id(model.encoder.clip.frozen) not in all_ids
    assert len(all_ids) == sum(1 for p in model.parameters() if p.requires_grad) == 8


def official_paramwise_cfg():
    return dict(clip_prefixes=('encoder.clip.',), clip_lr_mult=1e-3,
                no_decay_keys=('bias', 'LayerNorm.bias', 'LayerNorm.weight'))


def test_constructor_builds_four_official_groups():
    model = ToyModel()
    constructor = DiffusionRetOptimWrapperConstructor(
        dict(optimizer=dict(type=BertAdam, lr=BASE_LR, weight_decay=BASE_WD)),
        paramwise_cfg=official_paramwise_cfg())
    check_groups(constructor(model).optimizer, model)


def test_constructor_from_config_strings():
    model = ToyModel()
    with DefaultScope.overwrite_default_scope('mmdret'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='DiffusionRetOptimWrapperConstructor',
            optim_wrapper_cfg=dict(optimizer=dict(type='BertAdam', lr=BASE_LR,
                                                  weight_decay=BASE_WD)),
            paramwise_cfg=official_paramwise_cfg()))
        check_groups(constructor(model).optimizer, model)


def test_constructor_defaults_without_paramwise_cfg():
    model = ToyModel()
    constructor = DiffusionRetOptimWrapperConstructor(
        dict(optimizer=dict(type=BertAdam, lr=BASE_LR, weight_decay=BASE_WD)))
    check_groups(constructor(model).optimizer, model)


def test_warmup_cosine_function():
    assert warmup_cosine(0.0, 0.1) == 0.0
    assert warmup_cosine(0.05, 0.1) == pytest.approx(0.5)
    assert warmup_cosine(0.1, 0.1) == pytest.approx(0.5 * (1 + math.cos(0.1 * math.pi)))
    assert warmup_cosine(0.1, 0.1) == pytest.approx(0.97553, abs=1e-5)
    assert warmup_cosine(0.5, 0.1) == pytest.approx(0.5)
    assert warmup_cosine(1.0, 0.1) == pytest.approx(0.0, abs=1e-15)


def official_factor(step, total, warmup=0.1):
    """CLIP4Clip/DiffusionRet BertAdam: lr * warmup_cosine(step / t_total), step from 0."""
    x = step / total
    return x / warmup if x < warmup else 0.5 * (1.0 + math.cos(math.pi * x))


def test_warmup_cosine_lr_follows_official_schedule():
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([dict(params=[params[0]], lr=1.0),
                                 dict(params=[params[1]], lr=1e-3)], lr=1.0)
    total = 20
    scheduler = WarmupCosineLR(optimizer, warmup_ratio=0.1, begin=0, end=total, by_epoch=False)
    seen = []
    for step in range(total):
        seen.append([group['lr'] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert seen[0] == [0.0, 0.0]  # the first update uses lr 0
    assert seen[1] == pytest.approx([0.5, 0.5e-3])
    # x = 0.1: the factor jumps from the warm-up line to the (un-renormalised) cosine.
    assert seen[2] == pytest.approx([0.9755282581, 0.9755282581e-3], rel=1e-9)
    for step, lrs in enumerate(seen):
        factor = official_factor(step, total)
        assert lrs == pytest.approx([factor, 1e-3 * factor], rel=1e-9, abs=1e-15), step
    assert seen[10] == pytest.approx([0.5, 0.5e-3])


def test_warmup_cosine_lr_iter_based_from_epochs():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = WarmupCosineLR.build_iter_from_epoch(optimizer, warmup_ratio=0.1, begin=0, end=3,
                                                     by_epoch=True, epoch_length=10)
    assert (scheduler.begin, scheduler.end, scheduler.by_epoch) == (0, 30, False)
    for step in range(30):
        assert optimizer.param_groups[0]['lr'] == pytest.approx(2.0 * official_factor(step, 30))
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError):
        WarmupCosineLR(optimizer, end=None)
    assert PARAM_SCHEDULERS.get('WarmupCosineLR') is WarmupCosineLR


def hand_bert_adam(params, grads_per_step, lr, wd, betas=(0.9, 0.98), eps=1e-6, max_norm=1.0):
    """Official BertAdam update written out: per-tensor clip, no bias correction, wd in update."""
    beta1, beta2 = betas
    params = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            norm = math.sqrt(float((g * g).sum()))
            if max_norm > 0:
                g = g * min(1.0, max_norm / (norm + 1e-6))
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            update = m[i] / (v[i].sqrt() + eps) + wd * params[i]
            params[i] = params[i] - lr * update
    return params


def run_bert_adam(init, grads_per_step, **kwargs):
    params = [nn.Parameter(p.clone()) for p in init]
    optimizer = BertAdam(params, **kwargs)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach() for p in params]


def random_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(3, 4, generator=gen, dtype=torch.float64),
            torch.randn(5, generator=gen, dtype=torch.float64)]
    grads = [[torch.randn(3, 4, generator=gen, dtype=torch.float64) * 2,       # norm > 1: clipped
              torch.randn(5, generator=gen, dtype=torch.float64) * 0.05],     # norm < 1: kept
             [torch.randn(3, 4, generator=gen, dtype=torch.float64) * 0.1,
              torch.randn(5, generator=gen, dtype=torch.float64) * 3]]
    assert float(grads[0][0].norm()) > 1 and float(grads[0][1].norm()) < 1
    return init, grads


@pytest.mark.parametrize('steps', [1, 2])
def test_bert_adam_matches_hand_written_update(steps):
    init, grads = random_problem()
    grads = grads[:steps]
    actual = run_bert_adam(init, grads, lr=0.01, weight_decay=0.2)
    expected = hand_bert_adam(init, grads, lr=0.01, wd=0.2)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-14)
    # The first step without bias correction moves by lr * (1 - b1) / sqrt(1 - b2) * sign-ish.
    if steps == 1:
        unclipped = run_bert_adam(init, grads, lr=0.01, weight_decay=0.0, max_grad_norm=0.0)
        g = grads[0][1]
        step = (0.1 * g) / ((0.02 * g * g).sqrt() + 1e-6)
        torch.testing.assert_close(unclipped[1], init[1] - 0.01 * step, rtol=1e-12, atol=1e-14)


def test_bert_adam_clips_per_parameter_not_globally():
    init = [torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)]
    grads = [[torch.full((4,), 1.5, dtype=torch.float64),
              torch.full((4,), 1.5, dtype=torch.float64)]]  # each norm 3
    params = [nn.Parameter(p.clone()) for p in init]
    optimizer = BertAdam(params, lr=0.01, weight_decay=0.0)
    for p, g in zip(params, grads[0]):
        p.grad = g.clone()
    optimizer.step()
    for p in params:
        assert float(p.grad.norm()) == pytest.approx(1.0, rel=1e-5)  # each clipped to 1, not 1/√2
        m = optimizer.state[p]['exp_avg']
        torch.testing.assert_close(m, 0.1 * p.grad)


@pytest.mark.parametrize('wd', [0.0, 0.2])
def test_bert_adam_bias_correction_equals_adamw(wd):
    """With bias correction and no clip, (m/bc1)/(sqrt(v/bc2)+eps) is AdamW's update (eps added
    after the bias-corrected sqrt in both), and lr*(u + wd*p) equals AdamW's p(1-lr*wd) - lr*u."""
    init, grads = random_problem(seed=1)
    ours = [nn.Parameter(p.clone()) for p in init]
    ref = [nn.Parameter(p.clone()) for p in init]
    bert = BertAdam(ours, lr=0.01, betas=(0.9, 0.98), eps=1e-6, weight_decay=wd,
                    max_grad_norm=0.0, bias_correction=True)
    adamw = torch.optim.AdamW(ref, lr=0.01, betas=(0.9, 0.98), eps=1e-6, weight_decay=wd,
                              foreach=False)
    for step_grads in grads * 2:
        for p, q, g in zip(ours, ref, step_grads):
            p.grad, q.grad = g.clone(), g.clone()
        bert.step()
        adamw.step()
        for p, q in zip(ours, ref):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-12, atol=1e-14)
    # ... and without bias correction it does differ.
    plain = run_bert_adam(init, grads, lr=0.01, weight_decay=wd, max_grad_norm=0.0)
    assert not torch.allclose(plain[0], run_bert_adam(init, grads, lr=0.01, weight_decay=wd,
                                                      max_grad_norm=0.0,
                                                      bias_correction=True)[0])


def test_bert_adam_official_defaults():
    optimizer = BertAdam([nn.Parameter(torch.zeros(1))])
    group = optimizer.param_groups[0]
    assert group['betas'] == (0.9, 0.98)
    assert group['eps'] == 1e-6 and group['weight_decay'] == 0.2
    assert group['max_grad_norm'] == 1.0 and group['bias_correction'] is False
