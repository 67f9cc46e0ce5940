"""Symmetric InfoNCE (official ``CrossEn`` applied to rows and columns)."""
import math

import pytest
import torch

from mmdret.models.losses import SymmetricInfoNCELoss
from mmdret.registry import MODELS

SIM = [[0.9, 0.1, -0.2],
       [0.3, 0.5, 0.4],
       [-0.1, 0.7, 0.2]]


def hand_loss(sim, scale):
    """½ [mean_i −log softmax(s·S)[i,i] over rows + the same over columns], written out."""
    n = len(sim)

    def cross_entropy(matrix):
        total = 0.0
        for i in range(n):
            log_denominator = math.log(sum(math.exp(scale * matrix[i][j]) for j in range(n)))
            total += -(scale * matrix[i][i] - log_denominator)
        return total / n

    transposed = [[sim[j][i] for j in range(n)] for i in range(n)]
    return 0.5 * (cross_entropy(sim) + cross_entropy(transposed))


@pytest.mark.parametrize('scale', [1.0, 100.0, math.exp(2.6592600)])
def test_matches_hand_computed_formula(scale):
    loss = SymmetricInfoNCELoss()(torch.tensor(SIM, dtype=torch.float64),
                                  torch.tensor(scale, dtype=torch.float64))
    assert loss.item() == pytest.approx(hand_loss(SIM, scale), rel=1e-12, abs=1e-12)


def test_hand_number_scale_one():
    # Independent arithmetic for the row term of row 0 at scale 1 (guards the helper itself).
    row0 = -(0.9 - math.log(math.exp(0.9) + math.exp(0.1) + math.exp(-0.2)))
    col0 = -(0.9 - math.log(math.exp(0.9) + math.exp(0.3) + math.exp(-0.1)))
    row1 = -(0.5 - math.log(math.exp(0.3) + math.exp(0.5) + math.exp(0.4)))
    col1 = -(0.5 - math.log(math.exp(0.1) + math.exp(0.5) + math.exp(0.7)))
    row2 = -(0.2 - math.log(math.exp(-0.1) + math.exp(0.7) + math.exp(0.2)))
    col2 = -(0.2 - math.log(math.exp(-0.2) + math.exp(0.4) + math.exp(0.2)))
    expected = 0.5 * ((row0 + row1 + row2) / 3 + (col0 + col1 + col2) / 3)
    assert hand_loss(SIM, 1.0) == pytest.approx(expected, rel=1e-14)
    loss = SymmetricInfoNCELoss()(torch.tensor(SIM, dtype=torch.float64), torch.tensor(1.0))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_symmetric_under_transpose():
    sim = torch.tensor(SIM, dtype=torch.float64)
    loss = SymmetricInfoNCELoss()
    assert loss(sim, 100.0).item() == pytest.approx(loss(sim.t(), 100.0).item(), rel=1e-12)
    # Not symmetric in a trivial way: the matrix is not symmetric and a one-sided CE differs.
    one_sided = torch.nn.functional.cross_entropy(100.0 * sim, torch.arange(3))
    assert abs(one_sided.item() - loss(sim, 100.0).item()) > 1e-3


def test_scaled_by_logit_scale_and_loss_weight():
    sim = torch.tensor(SIM, dtype=torch.float64)
    assert SymmetricInfoNCELoss()(sim, 10.0).item() == pytest.approx(hand_loss(SIM, 10.0))
    assert SymmetricInfoNCELoss()(sim, 10.0).item() != pytest.approx(hand_loss(SIM, 1.0))
    weighted = SymmetricInfoNCELoss(loss_weight=0.25)(sim, 10.0).item()
    assert weighted == pytest.approx(0.25 * hand_loss(SIM, 10.0), rel=1e-12)


def test_gradient_flows_to_similarity_and_scale():
    sim = torch.tensor(SIM, dtype=torch.float64, requires_grad=True)
    log_scale = torch.tensor(math.log(20.0), dtype=torch.float64, requires_grad=True)
    SymmetricInfoNCELoss()(sim, log_scale.exp()).backward()
    assert sim.grad.abs().sum() > 0
    assert log_scale.grad is not None and log_scale.grad.abs() > 0
    # Diagonal gradient is negative (raising a positive's score lowers the loss).
    assert bool((sim.grad.diagonal() < 0).all())


def test_registered():
    assert isinstance(MODELS.build(dict(type='SymmetricInfoNCELoss')), SymmetricInfoNCELoss)
