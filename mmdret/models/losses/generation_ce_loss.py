"""DiffusionRet's generation loss (official ``training_losses``, key ``kl_loss``)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdret.registry import MODELS

# Official training always lists the positive first among the candidates (its one-hot x0).
POSITIVE_INDEX = 0


@MODELS.register_module()
class GenerationCELoss(nn.Module):
    """Cross-entropy of the scaled x0 prediction against the positive candidate (the official "KL").

    ``loss = loss_weight * mean_b CE(d_temp * x0_hat_b, positive_b)``, which equals
    ``KL(onehot(positive) || softmax(d_temp * x0_hat))`` up to the target's entropy (a constant,
    0 for a one-hot target). Shares its call signature with :class:`GenerationMSELoss`, so a config
    can swap the two.

    Args:
        d_temp (float): Scale applied to x̂0 before the softmax (official ``--d_temp``).
            Defaults to 100.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, d_temp: float = 100., loss_weight: float = 1.0):
        super().__init__()
        self.d_temp = d_temp
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``(B, N)`` predicted x̂0 over N candidates.
            target (Tensor, optional): Either ``(B,)`` positive indices, or the ``(B, N)`` clean
                distribution x0 whose argmax is the positive (one-hot, or +1/-1 as with the
                official ``--neg -1``). None means the positive is at index 0 (official).

        Returns:
            Tensor: Scalar loss.
        """
        if target is None:
            target = pred.new_full(pred.shape[:1], POSITIVE_INDEX, dtype=torch.long)
        elif target.dim() == pred.dim():
            target = target.argmax(dim=-1)
        return self.loss_weight * F.cross_entropy(self.d_temp * pred, target)
