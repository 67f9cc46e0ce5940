import torch.nn.functional as F
from torch import nn

from mmdret.registry import MODELS


@MODELS.register_module()
class MeanFramePooling(nn.Module):
    """Text-independent mean pooling of frames: CLIP4Clip's parameter-free ``meanP``.

    Each frame embedding is L2-normalised, then the valid frames are averaged, so the
    similarity of the :class:`XPool` retriever using this pooling is CLIP4Clip's
    ``cos(t, mean_i v_i / |v_i|)``. It has no weights: with a pretrained CLIP it is the
    zero-shot baseline. The output of a video is the same for every text; it is expanded (a
    view, no copy) to the (Nt, Nv, D) shape of a text-conditioned pooling.
    """

    def forward(self, text, frames, frame_mask=None):
        """Pool every video (once; the result is shared by all texts).

        Args:
            text (Tensor): (Nt, D) text embeddings (only their number is used).
            frames (Tensor): (Nv, T, D) per-frame embeddings.
            frame_mask (Tensor, optional): (Nv, T), 1 for real frames. Defaults to None
                (all frames are real).

        Returns:
            Tensor: (Nt, Nv, D) the pooled video embedding of video j at ``[i, j]``.
        """
        frames = F.normalize(frames.float(), dim=-1)
        if frame_mask is None:
            pooled = frames.mean(1)
        else:
            mask = frame_mask.to(frames.dtype)[..., None]
            pooled = (frames * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return pooled[None].expand(text.shape[0], -1, -1)
