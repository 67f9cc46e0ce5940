"""LogitScaleClampHook: the CLIP log logit scale is clamped to <= ln 100 after each step."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdret.engine.hooks import LogitScaleClampHook
from mmdret.registry import HOOKS


def toy_model(value):
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.clip = nn.Module()
    model.encoder.clip.logit_scale = nn.Parameter(torch.tensor(float(value)))
    model.other = nn.Parameter(torch.tensor(50.0))
    return model


def after_iter(hook, model):
    hook.after_train_iter(SimpleNamespace(model=model), batch_idx=0, data_batch=None, outputs=None)


def test_clamps_large_value_to_ln100():
    model = toy_model(5.3)
    after_iter(LogitScaleClampHook(), model)
    assert model.encoder.clip.logit_scale.item() == pytest.approx(math.log(100), rel=1e-7)
    assert model.encoder.clip.logit_scale.item() == torch.tensor(math.log(100)).item()
    assert model.encoder.clip.logit_scale.exp().item() == pytest.approx(100.0, rel=1e-6)
    assert model.other.item() == 50.0  # nothing else touched
    assert model.encoder.clip.logit_scale.requires_grad


def test_leaves_smaller_value():
    model = toy_model(math.log(1 / 0.07))
    after_iter(LogitScaleClampHook(), model)
    assert model.encoder.clip.logit_scale.item() == torch.tensor(math.log(1 / 0.07)).item()
    model = toy_model(-3.0)  # no lower bound
    after_iter(LogitScaleClampHook(), model)
    assert model.encoder.clip.logit_scale.item() == -3.0


def test_custom_name_and_bound_and_registry():
    model = nn.Module()
    model.scale = nn.Parameter(torch.tensor(9.0))
    hook = HOOKS.build(dict(type='LogitScaleClampHook', max_value=2.0, param_name='scale'))
    assert isinstance(hook, LogitScaleClampHook)
    after_iter(hook, model)
    assert model.scale.item() == 2.0


def test_clamp_survives_optimizer_step_sequence():
    model = toy_model(math.log(100) - 0.01)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    hook = LogitScaleClampHook()
    for _ in range(3):
        optimizer.zero_grad()
        (-model.encoder.clip.logit_scale).backward()  # pushes the scale up by 1 per step
        optimizer.step()
        assert model.encoder.clip.logit_scale.item() > math.log(100)
        after_iter(hook, model)
        assert model.encoder.clip.logit_scale.item() <= torch.tensor(math.log(100)).item()
