import torch
import torch.nn.functional as F
from torch import nn

from mmdret.registry import MODELS


@MODELS.register_module()
class SymmetricInfoNCELoss(nn.Module):
    """Symmetric InfoNCE over a square text-video similarity matrix (official ``CrossEn``).

    ``L = ½ [CE_rows(s·S) + CE_rows(s·Sᵀ)]`` with diagonal targets, ``s`` the CLIP logit scale.
    As in the official code, other captions of the same video in a batch count as negatives.

    Args:
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, similarity, logit_scale):
        logits = logit_scale * similarity
        targets = torch.arange(logits.shape[0], device=logits.device)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2
        return self.loss_weight * loss
