import math

import torch
import torch.nn.functional as F
from torch import nn

from mmdret.registry import MODELS
from ..utils import DefaultInitModule


@MODELS.register_module()
class XPoolFramePooling(DefaultInitModule):
    """X-Pool text-conditioned frame pooling (Gorti et al., CVPR 2022; ``modules/transformer.py``).

    Every video is pooled once per text: the text is the query of a cross-attention over the
    video's frames::

        t' = LN1(t),  f' = LN1(f)                       (one LayerNorm shared by both sides)
        a  = out_proj(softmax_f(q_proj(t') · k_proj(f')ᵀ / √d_head) v_proj(f'))
        a  = LN2(a)
        out = LN3(a + Dropout(linear_proj(a)))

    There is no residual from the text or from the mean frame. Every Linear starts as the
    identity with zero bias (official ``_init_parameters``), so at init the pooling is an
    attention-weighted frame average. 1,316,352 parameters at ``embed_dim=512``.

    The output for a (text, video) pair depends on that text and that video only, so the
    (Nt, Nv) grid can be computed in chunks of texts or of videos.

    Args:
        embed_dim (int): joint embedding width d. Defaults to 512.
        num_heads (int): attention heads (X-Pool ``num_mha_heads``). Defaults to 1.
        dropout (float): dropout on the ``linear_proj`` branch (``transformer_dropout``).
            Defaults to 0.3.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self, embed_dim=512, num_heads=1, dropout=0.3, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dim % num_heads:
            raise ValueError(f'embed_dim {embed_dim} is not divisible by num_heads {num_heads}')
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.linear_proj = nn.Linear(embed_dim, embed_dim)
        self.layer_norm1 = nn.LayerNorm(embed_dim)
        self.layer_norm2 = nn.LayerNorm(embed_dim)
        self.layer_norm3 = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.default_init()

    def default_init(self):
        """The official init: every Linear the identity, biases 0."""
        for linear in (self.q_proj, self.k_proj, self.v_proj, self.out_proj, self.linear_proj):
            nn.init.eye_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, text, frames, frame_mask=None):
        """Pool every video once per text.

        Args:
            text (Tensor): (Nt, D) text embeddings (CLIP EOT, not normalised).
            frames (Tensor): (Nv, T, D) per-frame CLIP embeddings.
            frame_mask (Tensor, optional): (Nv, T), 1 for real frames. Padded frames get no
                attention weight (official X-Pool always has 12 real frames). A video without
                any real frame (corrupt) falls back to uniform weights.

        Returns:
            Tensor: (Nt, Nv, D) pooled video embedding of video j under text i at ``[i, j]``.
        """
        num_texts, num_videos, num_frames = text.shape[0], frames.shape[0], frames.shape[1]
        heads, head_dim = self.num_heads, self.head_dim
        text = self.layer_norm1(text)
        frames = self.layer_norm1(frames)
        q = self.q_proj(text).view(num_texts, heads, head_dim)
        k = self.k_proj(frames).view(num_videos, num_frames, heads, head_dim)
        v = self.v_proj(frames).view(num_videos, num_frames, heads, head_dim)
        logits = torch.einsum('thd,vfhd->tvhf', q, k) / math.sqrt(head_dim)
        if frame_mask is not None:
            keep = frame_mask.bool()
            keep = keep | ~keep.any(dim=1, keepdim=True)  # all-padded video: uniform weights
            logits = logits.masked_fill(~keep[None, :, None, :], float('-inf'))
        weights = F.softmax(logits, dim=-1)
        attn = torch.einsum('tvhf,vfhd->tvhd', weights, v).reshape(num_texts, num_videos, -1)
        attn = self.layer_norm2(self.out_proj(attn))
        return self.layer_norm3(attn + self.dropout(self.linear_proj(attn)))
