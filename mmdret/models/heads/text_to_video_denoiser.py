"""DiffusionRet text-to-video denoiser (official ``diffusion.py:Diffusion``)."""
from torch import Tensor

from mmdret.registry import MODELS
from .denoiser_blocks import QueryCandidateDenoiser


@MODELS.register_module()
class TextToVideoDenoiser(QueryCandidateDenoiser):
    """Predicts x̂0 over N candidate videos for one query text (official ``Diffusion``).

    Each candidate video is pooled over its frames with attention from the query text
    (:func:`~mmdret.models.utils.masked_frame_pooling`) into ``u_n``; the query-candidate attention
    then uses the text as query and the ``u_n`` as keys/values and decoder inputs. Called as
    ``forward(x, timesteps, query_text, candidate_frames, candidate_frame_mask)``; constructor
    arguments, defaults, sampling cache and official quirks: see
    :class:`~.denoiser_blocks.QueryCandidateDenoiser`.
    """

    def sides(self, query_text: Tensor, candidate_frames: Tensor,
              candidate_frame_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The query text ``(B, 1, D)`` and the candidates pooled with it, ``u_n`` (B, N, D).

        Args:
            query_text (Tensor): ``(B, D)`` query text feature (CLIP EOT / "cls").
            candidate_frames (Tensor): ``(B, N, T, D)`` frame features of the candidates.
            candidate_frame_mask (Tensor): ``(B, N, T)`` frame validity (1 real, 0 padding).
        """
        text = query_text.unsqueeze(1)
        return text, self.pool_frames(text, candidate_frames, candidate_frame_mask)
