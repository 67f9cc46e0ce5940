"""The x0-regression generation loss (official ``training_losses`` MSE branch)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdret.registry import MODELS
from .generation_ce_loss import POSITIVE_INDEX


@MODELS.register_module()
class GenerationMSELoss(nn.Module):
    """Mean squared error between the x0 prediction and the clean distribution x0.

    ``loss = loss_weight * mean_{b,n} (x0_{b,n} - x0_hat_{b,n})^2``. The official code has this
    branch but never reaches it (its loss type is hard-coded to "KL", i.e.
    :class:`GenerationCELoss`); it is kept as the MSE option of the generation loss.
    Shares its call signature with :class:`GenerationCELoss`, so a config can swap the two.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``(B, N)`` predicted x̂0 over N candidates.
            target (Tensor, optional): Either the ``(B, N)`` clean distribution x0, or ``(B,)``
                positive indices (x0 = their one-hot). None means a one-hot at index 0 (official).

        Returns:
            Tensor: Scalar loss.
        """
        if target is None:
            target = pred.new_full(pred.shape[:1], POSITIVE_INDEX, dtype=torch.long)
        if target.dim() < pred.dim():
            target = F.one_hot(target, pred.shape[-1]).to(pred.dtype)
        return self.loss_weight * F.mse_loss(pred, target)
