"""Parts shared by the two DiffusionRet denoisers (official ``DiffusionRet/models/diffusion.py``).

:class:`QueryCandidateDenoiser` holds the parameter layout common to ``Diffusion`` (t2v) and
``Diffusion_v`` (v2t) under the official names, so an official checkpoint's ``diffusion_model.*`` /
``diffusion_model_v.*`` entries load 1:1 once the prefix is stripped. The two directions differ
only in which side is pooled over frames and which side feeds the attention query.
"""
import math

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

# The Transformer sinusoid base: frequencies are SINUSOID_BASE ** (-2i / dim).
SINUSOID_BASE = 10000.0
# Official ``init_weights``: Linear weights ~ N(0, 0.02), biases 0.
LINEAR_INIT_STD = 0.02


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """The fixed sin/cos table: row k is ``[sin(k w_0), cos(k w_0), sin(k w_1), cos(k w_1), ...]``.

    Args:
        length (int): Number of rows (positions / noise levels).
        dim (int): Even embedding width; ``w_i = SINUSOID_BASE ** (-2i / dim)``.

    Returns:
        Tensor: ``(length, dim)`` float32 table.
    """
    position = torch.arange(length, dtype=torch.float).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(SINUSOID_BASE) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class SinusoidalTable(nn.Module):
    """Holds the sinusoidal table as the persistent buffer ``pe`` of shape ``(length, 1, dim)``.

    Stands in for the official ``PositionalEncoding``, of which only the buffer is ever used (its
    dropout-applying ``forward`` is never called), so only the buffer is kept.

    Args:
        length (int): Number of rows.
        dim (int): Embedding width.
    """

    def __init__(self, length: int, dim: int):
        super().__init__()
        self.register_buffer('pe', sinusoidal_table(length, dim).unsqueeze(1))


class TimestepEmbedder(nn.Module):
    """Noise-level embedding ``c = Linear-SiLU-Linear(pe[k])`` (official ``TimestepEmbedder``).

    Args:
        table (SinusoidalTable): The sinusoidal table; kept as the submodule
            ``sequence_pos_encoder`` like the official, which also registers it on the denoiser.
    """

    def __init__(self, table: SinusoidalTable):
        super().__init__()
        width = table.pe.shape[-1]
        self.sequence_pos_encoder = table
        self.time_embed = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, timesteps: Tensor) -> Tensor:
        """Map integer noise levels ``(B,)`` to embeddings ``(B, width)``."""
        return self.time_embed(self.sequence_pos_encoder.pe[timesteps, 0])


def masked_frame_pooling(query: Tensor, frames: Tensor, mask: Tensor, temp: float,
                         renormalize: bool) -> Tensor:
    """Text-frame attention pooling ``u = sum_t softmax_t(<query, frame_t> / temp) mask_t frame_t``.

    Features are used unnormalised, as in the official code. Official quirk (spec §9.4): the
    softmax runs over all T frames, padded ones included, and the mask multiplies the weights
    afterwards without renormalising, so padded-frame features still shift the weights of the real
    frames. ``renormalize=True`` corrects this by excluding masked frames before the softmax.

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


class QueryCandidateDenoiser(BaseModule):
    """Parameters and query-candidate attention shared by the two DiffusionRet denoisers.

    Given the noisy distribution ``x`` (B, N) over N candidates, the noise level ``k`` and, per
    candidate, a query-side vector ``s_n`` and a key-side vector ``e_n`` (both (B, N, D); ``s``
    may be (B, 1, D) when one query serves all candidates), it computes with ``c = Proj(pe[k])``::

        a = softmax_N( Wq(s_n + c) . Wk(e_n + c) + x_n )        # unscaled logits, no 1/sqrt(D)
        h = proj( sum_n a_n Wv(e_n + c) )
        x0_hat_n = decoder([h ; e_n]) + a_n

    Official quirks kept as is (spec §9.3): the noisy distribution enters as an additive bias on
    the attention logits, and the attention weights are added to the decoder output.

    Args:
        width (int): Feature width D. Defaults to 512.
        dropout (float): Accepted for parity with the official ``Diffusion(width, dropout=0.1,
            temp=1)`` signature, which hands it only to ``PositionalEncoding``, whose forward is
            never called: the official denoisers apply no dropout anywhere, and neither does this
            one (train and eval outputs are identical). Defaults to 0.1.
        temp (float): Temperature of the text-frame pooling softmax. Defaults to 1.0.
        max_timesteps (int): Rows of the sinusoidal noise-level table. Defaults to 5000.
        renormalize_masked_pooling (bool): Exclude padded frames before the pooling softmax
            instead of masking after it (official quirk, spec §9.4). Defaults to False.
        init_cfg (dict | list[dict], optional): Weight init; defaults to the official
            ``init_weights`` (Linear weights N(0, 0.02), biases 0).
    """

    def __init__(self,
                 width: int = 512,
                 dropout: float = 0.1,
                 temp: float = 1.0,
                 max_timesteps: int = 5000,
                 renormalize_masked_pooling: bool = False,
                 init_cfg=dict(type='Normal', layer='Linear', std=LINEAR_INIT_STD, bias=0.)):
        super().__init__(init_cfg=init_cfg)
        self.width = width
        self.temp = temp
        self.renormalize_masked_pooling = renormalize_masked_pooling

        # Registration order and names follow the official module so state dicts line up.
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.proj = nn.Linear(width, width)
        # One table, registered twice (here and inside embed_timestep) as in the official code.
        self.sequence_pos_encoder = SinusoidalTable(max_timesteps, width)
        self.embed_timestep = TimestepEmbedder(self.sequence_pos_encoder)
        self.decoder = nn.Sequential(
            nn.Linear(2 * width, 2 * width),
            nn.ReLU(),
            nn.Linear(2 * width, 1),
        )

    def pool_frames(self, query: Tensor, frames: Tensor, mask: Tensor) -> Tensor:
        """:func:`masked_frame_pooling` with this denoiser's temperature and masking mode."""
        return masked_frame_pooling(query, frames, mask, self.temp,
                                    self.renormalize_masked_pooling)

    def denoise(self, x: Tensor, timesteps: Tensor, query_side: Tensor,
                key_side: Tensor) -> Tensor:
        """Query-candidate attention and decoder (see the class docstring).

        Args:
            x (Tensor): ``(B, N)`` noisy distribution x_k.
            timesteps (Tensor): ``(B,)`` integer noise levels k.
            query_side (Tensor): ``(B, N, D)`` or ``(B, 1, D)`` inputs of ``Wq``.
            key_side (Tensor): ``(B, N, D)`` inputs of ``Wk`` / ``Wv``, also fed to the decoder.

        Returns:
            Tensor: ``(B, N)`` predicted x̂0 (logits over the candidates).
        """
        cond = self.embed_timestep(timesteps).unsqueeze(1)
        q = self.q_proj(query_side + cond)
        k = self.k_proj(key_side + cond)
        v = self.v_proj(key_side + cond)
        attn = ((q * k).sum(dim=-1) + x).softmax(dim=-1)
        summary = self.proj(torch.einsum('bn,bnd->bd', attn, v))
        decoder_in = torch.cat([summary.unsqueeze(1).expand_as(key_side), key_side], dim=-1)
        return self.decoder(decoder_in).squeeze(-1) + attn
