import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmdret.registry import MODELS

# The official code fills masked weight logits with -9e15 before the softmax.
MASKED_LOGIT = -9e15


def token_weights(weight_logits, mask):
    """Softmax over valid positions of per-token weight logits: (B, L) -> (B, L).

    Args:
        weight_logits (Tensor): ``(B, L)`` weight logits of the tokens (or frames).
        mask (Tensor): ``(B, L)`` mask, 1 valid / 0 padding; padded positions get weight 0.

    Returns:
        Tensor: ``(B, L)`` weights, each row summing to 1 over the valid positions.
    """
    return weight_logits.masked_fill(mask == 0, MASKED_LOGIT).softmax(dim=-1)


def weighted_token_similarity(text, text_weights, text_mask, video, video_weights, video_mask,
                              exclude_masked_from_max=False):
    """Word/frame weighted token-wise similarity ("wti") between every text and every video.

    ``S[a,b,t,v] = <t̂_at, v̂_bv> m_at m_bv``; ``t2v = Σ_t w_at max_v S``; ``v2t = Σ_v w_bv max_t S``;
    result ``(t2v + v2t) / 2`` of shape (A, B).

    Args:
        text (Tensor): L2-normalised token features (A, L, D).
        text_weights (Tensor): token weights (A, L), zero on masked tokens.
        text_mask (Tensor): token mask (A, L), 1 valid / 0 padding.
        video (Tensor): L2-normalised frame features (B, T, D).
        video_weights (Tensor): frame weights (B, T).
        video_mask (Tensor): frame mask (B, T), 1 valid / 0 padding.
        exclude_masked_from_max (bool): the official code leaves masked entries at 0 inside the
            max, so a token whose real similarities are all negative takes 0 from a padded frame.
            True excludes them (corrected behaviour). Defaults to False (official).
    """
    num_texts, num_words, dim = text.shape
    num_videos, num_frames, _ = video.shape
    # One GEMM (a t) x (v b) -> S[a, t, v, b]: both maxima then reduce over a non-innermost dim
    # with contiguous rows of b, the fast layout for CPU reductions (amax: no argmax indices;
    # its gradient is shared among exactly tied maxima, where max picks one of them).
    # The masked products are exactly 0: padded frames are zeroed before the GEMM, the rows of
    # padded tokens after it (in place, cheaper than a masked copy of all texts).
    video = video * video_mask[..., None].to(video.dtype)
    sim = text.reshape(-1, dim) @ video.transpose(0, 1).reshape(-1, dim).t()
    sim.view(num_texts, num_words, -1).masked_fill_(text_mask[..., None] == 0, 0.0)
    sim = sim.view(num_texts, num_words, num_frames, num_videos)
    if exclude_masked_from_max:
        valid = (text_mask[:, :, None, None] != 0) & (video_mask.t()[None, None] != 0)
        sim = sim.masked_fill(~valid, float('-inf'))
    text_to_video = sim.amax(dim=2)  # (a, t, b): best frame per token
    video_to_text = sim.amax(dim=1)  # (a, v, b): best token per frame
    if exclude_masked_from_max:
        # A masked token/frame has no valid partner at all; its weight is 0 anyway.
        text_to_video = text_to_video.nan_to_num(neginf=0.0)
        video_to_text = video_to_text.nan_to_num(neginf=0.0)
    t2v = torch.einsum('atb,at->ab', text_to_video, text_weights)
    v2t = (video_to_text * video_weights.t()).sum(dim=1)
    return (t2v + v2t) / 2


def weight_mlp(width, hidden):
    """The weight MLP ``Linear -> ReLU -> Linear`` giving one logit per token or frame.

    Args:
        width (int): input feature width.
        hidden (int): hidden width.

    Returns:
        nn.Sequential: the MLP, ``(..., width) -> (..., 1)``.
    """
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))


@MODELS.register_module()
class WTISimilarityHead(BaseModule):
    """Weighted token-wise interaction (DRL "wti") similarity used by DiffusionRet.

    Token and frame weights come from two MLPs on the *unnormalised* features; the similarity is
    computed on L2-normalised features (see :func:`weighted_token_similarity`).

    Args:
        embed_dim (int): feature width. Defaults to 512.
        hidden_dim (int): hidden width of the weight MLPs. Defaults to 1024 (= 2 * 512).
        exclude_masked_from_max (bool): see :func:`weighted_token_similarity`. Defaults to False
            (official behaviour).
        candidate_chunk_size (int): videos scored at once in :meth:`similarity`; bounds memory
            to ``A * chunk * L * T`` floats. Defaults to 256.
        init_cfg (dict, optional): mmengine init config. Defaults to None (weights
            ``N(0, 0.02)``, biases 0).
    """

    def __init__(self, embed_dim=512, hidden_dim=1024, exclude_masked_from_max=False,
                 candidate_chunk_size=256, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.text_weight_fc = weight_mlp(embed_dim, hidden_dim)
        self.video_weight_fc = weight_mlp(embed_dim, hidden_dim)
        self.exclude_masked_from_max = exclude_masked_from_max
        self.candidate_chunk_size = candidate_chunk_size
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def text_weights(self, text, mask):
        return token_weights(self.text_weight_fc(text).squeeze(-1), mask)

    def video_weights(self, video, mask):
        return token_weights(self.video_weight_fc(video).squeeze(-1), mask)

    def prepare_text(self, text, mask):
        """Per-text features the similarity needs: raw token features, mask and weights.

        Args:
            text (Tensor): ``(A, L, D)`` raw (unnormalised) token features.
            mask (Tensor): ``(A, L)`` token mask, 1 valid / 0 padding.

        Returns:
            dict[str, Tensor]: ``tokens`` (``text``), ``token_mask`` (``mask``) and
            ``token_weights`` ``(A, L)``.
        """
        return dict(tokens=text, token_mask=mask, token_weights=self.text_weights(text, mask))

    def prepare_video(self, video, mask):
        return dict(frames=video, frame_mask=mask, frame_weights=self.video_weights(video, mask))

    def similarity(self, text, video):
        """(A, B) similarity of prepared texts and videos, in chunks of videos.

        Args:
            text (dict[str, Tensor]): :meth:`prepare_text` of A texts.
            video (dict[str, Tensor]): :meth:`prepare_video` of B videos (``frames``,
                ``frame_mask``, ``frame_weights``).

        Returns:
            Tensor: ``(A, B)`` similarity (see :func:`weighted_token_similarity`).
        """
        tokens = F.normalize(text['tokens'], dim=-1)
        chunks = []
        for start in range(0, video['frames'].shape[0], self.candidate_chunk_size):
            part = slice(start, start + self.candidate_chunk_size)
            chunks.append(weighted_token_similarity(
                tokens, text['token_weights'], text['token_mask'],
                F.normalize(video['frames'][part], dim=-1), video['frame_weights'][part],
                video['frame_mask'][part], self.exclude_masked_from_max))
        return torch.cat(chunks, dim=1)

    def forward(self, text, text_mask, video, video_mask):
        """Similarity (A, B) of raw token features (A, L, D) and frame features (B, T, D).

        Args:
            text (Tensor): ``(A, L, D)`` raw token features.
            text_mask (Tensor): ``(A, L)`` token mask, 1 valid / 0 padding.
            video (Tensor): ``(B, T, D)`` raw frame features.
            video_mask (Tensor): ``(B, T)`` frame mask, 1 valid / 0 padding.

        Returns:
            Tensor: ``(A, B)`` similarity.
        """
        return self.similarity(self.prepare_text(text, text_mask),
                               self.prepare_video(video, video_mask))
