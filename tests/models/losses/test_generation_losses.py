import math

import pytest
import torch

from mmdret.models.losses import GenerationCELoss, GenerationMSELoss
from mmdret.registry import MODELS

PRED = [[0.01, -0.02, 0.03], [0.05, 0.0, -0.01]]
D_TEMP = 100


def hand_ce(row, positive, scale=D_TEMP):
    logits = [scale * v for v in row]
    top = max(logits)
    log_sum_exp = top + math.log(sum(math.exp(v - top) for v in logits))
    return log_sum_exp - logits[positive]


def pred():
    return torch.tensor(PRED, dtype=torch.double)


def test_ce_defaults_to_positive_first():
    # Row 0: logits (1, -2, 3) -> lse = 3 + log(1 + e^-2 + e^-5); row 1: logits (5, 0, -1).
    expected = (hand_ce(PRED[0], 0) + hand_ce(PRED[1], 0)) / 2
    assert expected == pytest.approx(((3 + math.log(1 + math.exp(-2) + math.exp(-5)) - 1) +
                                      (5 + math.log(1 + math.exp(-5) + math.exp(-6)) - 5)) / 2)
    assert GenerationCELoss()(pred()).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize('target', [
    torch.tensor([2, 1]),
    torch.tensor([[0., 0., 1.], [0., 1., 0.]]),  # one-hot x0
    torch.tensor([[-1., -1., 1.], [-1., 1., -1.]]),  # official ``--neg -1`` x0
])
def test_ce_with_explicit_target(target):
    expected = (hand_ce(PRED[0], 2) + hand_ce(PRED[1], 1)) / 2
    assert GenerationCELoss()(pred(), target).item() == pytest.approx(expected, rel=1e-12)


def test_ce_temperature_and_weight():
    expected = 0.5 * (hand_ce(PRED[0], 0, 10) + hand_ce(PRED[1], 0, 10)) / 2
    loss = GenerationCELoss(d_temp=10, loss_weight=0.5)(pred())
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_ce_equals_kl_to_one_hot():
    x0_hat = pred()
    log_probs = torch.log_softmax(D_TEMP * x0_hat, dim=-1)
    # KL(onehot || p) = sum onehot * (log onehot - log p) = -log p[positive].
    kl = -log_probs[:, 0].mean()
    torch.testing.assert_close(GenerationCELoss()(x0_hat), kl)


def test_mse_defaults_to_one_hot_at_zero():
    squares = [(1 - 0.01)**2, 0.02**2, 0.03**2, (1 - 0.05)**2, 0.0, 0.01**2]
    expected = sum(squares) / 6
    assert GenerationMSELoss()(pred()).item() == pytest.approx(expected, rel=1e-12)


def test_mse_with_indices_and_given_x0():
    one_hot_expected = sum([0.01**2, 0.02**2, (1 - 0.03)**2, 0.05**2, 1.0, 0.01**2]) / 6
    assert GenerationMSELoss()(pred(), torch.tensor([2, 1])).item() == pytest.approx(
        one_hot_expected, rel=1e-12)
    x0 = torch.tensor([[1., -1., -1.], [1., -1., -1.]], dtype=torch.double)
    signed_expected = 2 * sum([(1 - 0.01)**2, (-1 + 0.02)**2, (-1 - 0.03)**2, (1 - 0.05)**2,
                               1.0, (-1 + 0.01)**2]) / 6
    loss = GenerationMSELoss(loss_weight=2.0)(pred(), x0)
    assert loss.item() == pytest.approx(signed_expected, rel=1e-12)


@pytest.mark.parametrize('loss_type', ['GenerationCELoss', 'GenerationMSELoss'])
def test_losses_swap_in_config(loss_type):
    loss_fn = MODELS.build(dict(type=loss_type, loss_weight=1.0))
    x0_hat = pred().requires_grad_()
    x0 = torch.tensor([[1., 0., 0.], [1., 0., 0.]], dtype=torch.double)
    loss = loss_fn(x0_hat, x0)
    torch.testing.assert_close(loss, loss_fn(x0_hat))
    loss.backward()
    assert loss.dim() == 0 and x0_hat.grad.abs().sum() > 0
