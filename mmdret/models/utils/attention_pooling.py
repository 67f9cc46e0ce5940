"""Query-conditioned attention pooling over frames."""
import torch
from torch import Tensor


def masked_frame_pooling(query: Tensor, frames: Tensor, mask: Tensor, temp: float,
                         renormalize: bool) -> Tensor:
    """Text-frame attention pooling ``u = sum_t softmax_t(<query, frame_t> / temp) mask_t frame_t``.

    Features are used unnormalised, as in the official DiffusionRet code. By default (its
    behaviour) the softmax runs over all T frames, padded ones included, and the mask multiplies
    the weights afterwards without renormalising, so padded-frame features still shift the
    weights of the real frames and the weights of a padded video sum to less than one.
    ``renormalize=True`` corrects this by excluding masked frames before the softmax.

    Args:
        query (Tensor): ``(..., D)`` pooling queries; leading dims broadcast against ``frames``.
        frames (Tensor): ``(..., T, D)`` frame features.
        mask (Tensor): ``(..., T)`` frame validity (1 real, 0 padding), broadcastable to the scores.
        temp (float): Softmax temperature.
        renormalize (bool): Mask before the softmax (corrected) instead of after it (official).

    Returns:
        Tensor: ``(..., D)`` pooled features, the broadcast leading shape of query and frames.
    """
    # Ellipsis einsum broadcasts size-1 dims without materialising the expanded operand.
    scores = torch.einsum('...d,...td->...t', query, frames) / temp
    mask = mask.to(scores.dtype)
    if renormalize:
        # finfo.min rather than -inf keeps all-padding rows finite; the product below zeroes them.
        scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1) * mask
    return torch.einsum('...t,...td->...d', weights, frames)
