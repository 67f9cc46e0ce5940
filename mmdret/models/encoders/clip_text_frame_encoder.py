from functools import partial

import torch
from mmengine.model import BaseModule
from open_clip.transformer import LayerNorm, Transformer
from torch import nn

from mmdret.registry import MODELS
from ..utils.patch_embedding import PatchEmbedding
from .clip_builder import build_clip, load_clip_weights, resolve_clip_weights


class QuickGELU(nn.Module):

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def key_padding_attn_mask(mask, num_heads, fill=-1e6):
    """Additive (B*heads, T, T) mask that blocks padded keys (official ``(1-m)*-1e6``).

    Args:
        mask (Tensor): ``(B, T)`` key mask, 1 for a real position and 0 for padding.
        num_heads (int): attention heads; each sample's mask is repeated once per head.
        fill (float): the value added at padded keys. Defaults to -1e6.

    Returns:
        Tensor: ``(B * num_heads, T, T)`` float mask, 0 at real keys and ``fill`` at padded ones.
    """
    bias = (1.0 - mask.float()) * fill
    bias = bias[:, None, :].expand(-1, mask.shape[1], -1)
    return bias.repeat_interleave(num_heads, dim=0)


@MODELS.register_module()
class CLIPTextFrameEncoder(BaseModule):
    """CLIP text-frame encoder of DiffusionRet (stage 1 feature extractor).

    Text: all token features (after ``ln_final`` and the text projection) plus the EOT feature.
    Video: per-frame CLS features, then a temporal transformer with frame position embeddings and
    a residual: ``f + Transformer(f + pos)``.

    Args:
        arch (str | dict): open_clip model name (``'ViT-B-32'``, ``'ViT-B-16'``), an mmdret tiny
            architecture name (``'tiny-64'``, ``'tiny-128'``) or an open_clip config dict.
        pretrained (str, optional): an open_clip pretrained tag of ``arch`` (``'openai'``,
            ``'laion2b_s34b_b79k'``, ..., downloaded into open_clip's cache; refused at once
            with ``HF_HUB_OFFLINE=1``) or a local CLIP weight file (OpenAI TorchScript archive,
            OpenAI state dict, open_clip checkpoint or ``.safetensors`` file). None keeps
            random weights.
            Defaults to None.
        quick_gelu (bool): use QuickGELU as OpenAI's weights require. Defaults to True.
        freeze_patch_embed (bool): freeze ``visual.conv1`` as the official code does.
            Defaults to True.
        temporal_layers (int): temporal transformer depth. Defaults to 4.
        temporal_heads (int): temporal transformer heads. Defaults to 8.
        temporal_ln_eps (float): LayerNorm eps of the temporal transformer; the official code uses
            TF-style 1e-12 although it initialises from CLIP layers trained with 1e-5.
            Defaults to 1e-12.
        init_temporal_from_text (bool): copy CLIP text layers ``0..temporal_layers-1`` into the
            temporal transformer and the text positional embedding into the frame position
            embedding (the official "initialisation trick"). Defaults to True.
        motion_stem_offset (int, optional): demo-only stem for from-scratch tiny CLIPs: the patch
            embedding sees ``[frame_t, frame_{t+k} - frame_t]`` (6 channels) so that motion is
            learnable in minutes (see docs). Off (None) in every paper config.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 arch='ViT-B-32',
                 pretrained=None,
                 quick_gelu=True,
                 freeze_patch_embed=True,
                 temporal_layers=4,
                 temporal_heads=8,
                 temporal_ln_eps=1e-12,
                 init_temporal_from_text=True,
                 motion_stem_offset=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        weights = (resolve_clip_weights(arch, pretrained, quick_gelu)
                   if pretrained is not None else None)
        self.clip = build_clip(arch, quick_gelu=quick_gelu)
        if weights is not None:
            load_clip_weights(self.clip, weights)
        self.pretrained = pretrained
        self.embed_dim = self.clip.text_projection.shape[1]
        self.temporal_heads = temporal_heads

        context_length, text_width = self.clip.positional_embedding.shape
        self.frame_position_embeddings = nn.Embedding(context_length, self.embed_dim)
        self.temporal_transformer = Transformer(
            width=self.embed_dim,
            layers=temporal_layers,
            heads=temporal_heads,
            act_layer=QuickGELU,
            norm_layer=partial(LayerNorm, eps=temporal_ln_eps))
        self._init_temporal(init_temporal_from_text, text_width)

        self.clip.visual.conv1 = PatchEmbedding.from_conv(self.clip.visual.conv1,
                                                          motion_stem_offset)
        self.clip.visual.conv1.requires_grad_(not freeze_patch_embed)

    def _init_temporal(self, from_text, text_width):
        for module in self.temporal_transformer.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.frame_position_embeddings.weight, std=0.02)
        if not from_text:
            return
        if text_width != self.embed_dim:
            raise ValueError(f'init_temporal_from_text needs text width ({text_width}) == '
                             f'embed_dim ({self.embed_dim})')
        with torch.no_grad():
            self.frame_position_embeddings.weight.copy_(self.clip.positional_embedding)
            text_blocks = self.clip.transformer.resblocks
            for block, source in zip(self.temporal_transformer.resblocks, text_blocks):
                block.load_state_dict(source.state_dict())

    @property
    def logit_scale(self):
        return self.clip.logit_scale

    def encode_text(self, tokens, mask):
        """Encode token ids (B, L) into token features (B, L, D) and EOT features (B, D).

        Args:
            tokens (Tensor): ``(B, L)`` CLIP token ids; the EOT token (the largest id) ends each
                caption.
            mask (Tensor): ``(B, L)`` token mask, 1 for a real token; padded token features are
                zeroed.

        Returns:
            tuple[Tensor, Tensor]: ``(B, L, D)`` token features and ``(B, D)`` EOT features.
        """
        clip = self.clip
        length = tokens.shape[1]
        x = clip.token_embedding(tokens) + clip.positional_embedding[:length]
        # Causal attention already keeps real tokens from seeing the padding after EOT.
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = clip.ln_final(x) @ clip.text_projection
        eot = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
        return x * mask.unsqueeze(-1).to(x.dtype), eot

    def encode_frames(self, frames):
        """Per-frame CLIP CLS features: (B, T, C, H, W) -> (B, T, D).

        Args:
            frames (Tensor): ``(B, T, C, H, W)`` normalised frames.

        Returns:
            Tensor: ``(B, T, D)`` float32 frame features.
        """
        batch, num_frames = frames.shape[:2]
        # Clips go in whole: the patch embedding (a PatchEmbedding) flattens them itself and
        # its motion stem needs the time axis.
        features = self.clip.encode_image(frames)
        return features.view(batch, num_frames, -1).float()

    def aggregate_frames(self, frame_features, mask):
        """Temporal transformer with residual (official ``seqTransf``).

        Args:
            frame_features (Tensor): ``(B, T, D)`` per-frame features.
            mask (Tensor): ``(B, T)`` frame mask, 1 for a real frame; padded frames are blocked as
                attention keys.

        Returns:
            Tensor: ``(B, T, D)`` frame features ``f + Transformer(f + pos)``.
        """
        positions = self.frame_position_embeddings.weight[:frame_features.shape[1]]
        attn_mask = key_padding_attn_mask(mask, self.temporal_heads).to(frame_features.dtype)
        x = self.temporal_transformer(frame_features + positions, attn_mask=attn_mask)
        return x + frame_features

    def encode_video(self, frames, mask):
        """Encode frames (B, T, 3, H, W) with frame mask (B, T) into frame features (B, T, D).

        Args:
            frames (Tensor): ``(B, T, 3, H, W)`` normalised frames.
            mask (Tensor): ``(B, T)`` frame mask, 1 for a real frame.

        Returns:
            Tensor: ``(B, T, D)`` frame features (see :meth:`aggregate_frames`).
        """
        return self.aggregate_frames(self.encode_frames(frames), mask)
