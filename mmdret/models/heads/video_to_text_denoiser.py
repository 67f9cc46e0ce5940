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
    keys/values and decoder inputs. Same parameter layout as :class:`TextToVideoDenoiser`. Called
    as ``forward(x, timesteps, candidate_texts, query_frames, query_frame_mask)``; constructor
    arguments, defaults, sampling cache and official quirks: see
    :class:`~.denoiser_blocks.QueryCandidateDenoiser`.
    """

    def sides(self, candidate_texts: Tensor, query_frames: Tensor,
              query_frame_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The query video pooled by each candidate text, ``u_n`` (B, N, D), and the texts.

        Args:
            candidate_texts (Tensor): ``(B, N, D)`` candidate text features (CLIP EOT / "cls").
            query_frames (Tensor): ``(B, T, D)`` frame features of the query video.
            query_frame_mask (Tensor): ``(B, T)`` frame validity (1 real, 0 padding).
        """
        pooled_videos = self.pool_frames(candidate_texts, query_frames.unsqueeze(1),
                                         query_frame_mask.unsqueeze(1))
        return pooled_videos, candidate_texts
