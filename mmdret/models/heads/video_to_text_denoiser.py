"""DiffusionRet video-to-text denoiser (official ``diffusion.py:Diffusion_v``)."""
from torch import Tensor

from mmdret.registry import MODELS
from .denoiser_blocks import QueryCandidateDenoiser


@MODELS.register_module()
class VideoToTextDenoiser(QueryCandidateDenoiser):
    """Predicts x̂0 over N candidate texts for one query video (official ``Diffusion_v``).

    The query video is pooled over its frames once per candidate text, with attention from that
    text (:func:`~mmdret.models.utils.masked_frame_pooling`), into ``u_n``; the query-candidate
    attention then uses ``u_n`` as per-candidate queries (logits ``q_n . k_n``) and the texts as
    keys/values and decoder inputs. Same parameter layout as :class:`TextToVideoDenoiser`;
    constructor arguments, defaults and official quirks: see
    :class:`~.denoiser_blocks.QueryCandidateDenoiser`.

    For sampling, ``precompute(candidate_texts, query_frames, query_frame_mask)`` followed by
    ``denoise_cached(x, timestep, cache)`` per step equals ``forward`` with all timesteps equal.
    """

    def forward(self, x: Tensor, timesteps: Tensor, candidate_texts: Tensor, query_frames: Tensor,
                query_frame_mask: Tensor) -> Tensor:
        """Denoise one video query's distribution over its candidate texts.

        Args:
            x (Tensor): ``(B, N)`` noisy distribution x_k.
            timesteps (Tensor): ``(B,)`` integer noise levels k.
            candidate_texts (Tensor): ``(B, N, D)`` candidate text features (CLIP EOT / "cls").
            query_frames (Tensor): ``(B, T, D)`` frame features of the query video.
            query_frame_mask (Tensor): ``(B, T)`` frame validity (1 real, 0 padding).

        Returns:
            Tensor: ``(B, N)`` predicted x̂0 (logits over the candidates).
        """
        return self.denoise(x, timesteps,
                            *self.sides(candidate_texts, query_frames, query_frame_mask))

    def sides(self, candidate_texts: Tensor, query_frames: Tensor,
              query_frame_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The query video pooled by each candidate text, ``u_n`` (B, N, D), and the texts."""
        pooled_videos = self.pool_frames(candidate_texts, query_frames.unsqueeze(1),
                                         query_frame_mask.unsqueeze(1))
        return pooled_videos, candidate_texts
