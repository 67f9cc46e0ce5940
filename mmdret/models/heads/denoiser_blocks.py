"""Parts shared by the two DiffusionRet denoisers (official ``DiffusionRet/models/diffusion.py``).

:class:`QueryCandidateDenoiser` holds the parameter layout common to ``Diffusion`` (t2v) and
``Diffusion_v`` (v2t) under the official names, so an official checkpoint's ``diffusion_model.*`` /
``diffusion_model_v.*`` entries load 1:1 once the prefix is stripped. The two directions differ
only in which side is pooled over frames and which side feeds the attention query.
"""
from typing import NamedTuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn import functional as F

from ..utils import SinusoidalTable, TimestepEmbedder, masked_frame_pooling

# Official ``init_weights``: Linear weights ~ N(0, 0.02), biases 0.
LINEAR_INIT_STD = 0.02


class NoiseLevelTerms(NamedTuple):
    """Step-dependent terms of S noise levels, from ``c = Proj(pe[k])`` (``(S, D)`` each but
    ``query_key`` ``(S,)`` and ``hidden`` ``(S, 2D)``).

    Attributes:
        query (Tensor): ``Wq c``.
        key (Tensor): ``Wk c``.
        query_key (Tensor): ``Wq c . Wk c``.
        hidden (Tensor): ``W1_h (proj(Wv c))``, the decoder-hidden share of ``c``'s values and
            of the ``proj`` bias.
    """
    query: Tensor
    key: Tensor
    query_key: Tensor
    hidden: Tensor


class DenoiserCache(NamedTuple):
    """Step-invariant part of a denoiser's work for one set of queries and candidates.

    With ``s_n`` / ``e_n`` the query-side / key-side vectors (see
    :class:`QueryCandidateDenoiser`) and ``W1 = [W1_h, W1_e]`` the decoder's first layer split
    along its input ``[h ; e_n]``. Shapes: B queries, N candidates, D width; ``query_proj`` is
    ``(B, 1, D)`` when one query vector serves all candidates (t2v).

    Attributes:
        query_proj (Tensor): ``Wq s_n``, ``(B, N or 1, D)``.
        key_proj (Tensor): ``Wk e_n``, ``(B, N, D)``.
        query_key (Tensor): ``Wq s_n . Wk e_n``, ``(B, N)``.
        hidden_value (Tensor): ``W1_h Wo Wv e_n``, candidate n's value carried through ``proj``
            (without bias) into the decoder's hidden layer, ``(B, N, 2D)``.
        hidden_candidate (Tensor): ``W1_e e_n + b1``, ``(B, N, 2D)``.
        noise_rows (dict[int, int] | None): noise level k -> its index in the two below, for
            the levels announced to ``precompute`` (others are computed when used).
        noise_hidden (Tensor | None): :attr:`NoiseLevelTerms.hidden` per announced level,
            ``(S, 2D)``.
        noise_logits (Tensor | None): :func:`attention_logits` per announced level,
            ``(B, N, S)``.
        workspace (Tensor | None): ``(B, N, 2D)`` buffer of the per-step decoder hidden layer
            (set by ``precompute`` without autograd).
    """
    query_proj: Tensor
    key_proj: Tensor
    query_key: Tensor
    hidden_value: Tensor
    hidden_candidate: Tensor
    noise_rows: dict | None = None
    noise_hidden: Tensor | None = None
    noise_logits: Tensor | None = None
    workspace: Tensor | None = None


def attention_logits(cache: DenoiserCache, noise: NoiseLevelTerms) -> Tensor:
    """Query-candidate logits without x for S noise levels, ``(B, N, S)``, from the expansion
    ``(Wq s + Wq c) . (Wk e + Wk c) = Wq s . Wk e + Wq s . Wk c + Wk e . Wq c + Wq c . Wk c``.

    Args:
        cache (DenoiserCache): :meth:`QueryCandidateDenoiser.precompute` of the queries and
            candidates.
        noise (NoiseLevelTerms): terms of the S noise levels.
    """
    return (cache.query_key.unsqueeze(-1) + cache.query_proj @ noise.key.t() +
            cache.key_proj @ noise.query.t() + noise.query_key)


class QueryCandidateDenoiser(BaseModule):
    """Parameters and query-candidate attention shared by the two DiffusionRet denoisers.

    Given the noisy distribution ``x`` (B, N) over N candidates, the noise level ``k`` and, per
    candidate, a query-side vector ``s_n`` and a key-side vector ``e_n`` (both (B, N, D); ``s``
    may be (B, 1, D) when one query serves all candidates), it computes with ``c = Proj(pe[k])``::

        a = softmax_N( Wq(s_n + c) . Wk(e_n + c) + x_n )        # unscaled logits, no 1/sqrt(D)
        h = proj( sum_n a_n Wv(e_n + c) )
        x0_hat_n = decoder([h ; e_n]) + a_n

    Two details of the official code are kept as they are, since trained checkpoints depend on
    them: the noisy distribution enters as an additive bias on the attention logits (not as a
    token of its own), and the attention weights are added to the decoder output.

    Sampling runs many steps on the same queries and candidates with one noise level k per step,
    and only ``x`` changes from step to step. By linearity (``W(s + c) = W s + W c``, the
    decoder's first layer ``W1 [h ; e_n] + b1 = W1_h h + W1_e e_n + b1`` and ``sum_n a_n = 1``)::

        q.k_n    = Wq s_n . Wk e_n + Wq s_n . Wk c + Wk e_n . Wq c + Wq c . Wk c
        W1_h h   = sum_n a_n (W1_h Wo Wv e_n) + W1_h proj(Wv c)

    :meth:`precompute` does all the ``(B, N, D)``-sized matrix work once (a
    :class:`DenoiserCache`), including the terms of the noise levels the sampler will visit, and
    :meth:`denoise_cached` leaves per step the softmax over ``q.k + x``, the attention-weighted
    sum of the cached decoder-hidden values and the decoder's ReLU and last layer.

    Subclasses implement ``sides(...) -> (s, e)`` from their feature inputs; :meth:`forward` is the
    plain computation, and ``precompute(*features)`` followed by ``denoise_cached(x, timestep,
    cache)`` per step equals ``forward`` with all timesteps equal, up to float rounding.

    Args:
        width (int): Feature width D. Defaults to 512.
        dropout (float): Accepted for parity with the official ``Diffusion(width, dropout=0.1,
            temp=1)`` signature, which hands it only to ``PositionalEncoding``, whose forward is
            never called: the official denoisers apply no dropout anywhere, and neither does this
            one (train and eval outputs are identical). Defaults to 0.1.
        temp (float): Temperature of the text-frame pooling softmax. Defaults to 1.0.
        max_timesteps (int): Rows of the sinusoidal noise-level table. Defaults to 5000.
        renormalize_masked_pooling (bool): Exclude padded frames before the pooling softmax
            instead of masking after it (the official behaviour, see
            :func:`~mmdret.models.utils.masked_frame_pooling`). Defaults to False.
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
        self.embed_timestep = TimestepEmbedder(width, layout='interleaved',
                                               table=self.sequence_pos_encoder)
        self.decoder = nn.Sequential(
            nn.Linear(2 * width, 2 * width),
            nn.ReLU(),
            nn.Linear(2 * width, 1),
        )

    def pool_frames(self, query: Tensor, frames: Tensor, mask: Tensor) -> Tensor:
        """:func:`masked_frame_pooling` with this denoiser's temperature and masking mode.

        Args:
            query (Tensor): ``(..., D)`` pooling queries.
            frames (Tensor): ``(..., T, D)`` frame features.
            mask (Tensor): ``(..., T)`` frame validity.
        """
        return masked_frame_pooling(query, frames, mask, self.temp,
                                    self.renormalize_masked_pooling)

    def forward(self, x: Tensor, timesteps: Tensor, *features: Tensor) -> Tensor:
        """Denoise one query's distribution over its candidates.

        Args:
            x (Tensor): ``(B, N)`` noisy distribution x_k.
            timesteps (Tensor): ``(B,)`` integer noise levels k.
            *features (Tensor): The query and candidate features of the subclass's direction, in
                the order of its :meth:`sides`.

        Returns:
            Tensor: ``(B, N)`` predicted x̂0 (logits over the candidates).
        """
        return self.denoise(x, timesteps, *self.sides(*features))

    def sides(self, *features: Tensor) -> tuple[Tensor, Tensor]:
        """``(query_side, key_side)`` of :meth:`denoise` from the subclass's feature inputs (those
        of its ``forward`` after ``x`` and ``timesteps``).

        Args:
            *features (Tensor): the subclass's feature inputs, as in its ``forward``.
        """
        raise NotImplementedError

    def precompute(self, *features: Tensor, timesteps: Tensor | None = None) -> DenoiserCache:
        """The step-invariant work of ``forward`` on ``features`` (its inputs after ``x`` and
        ``timesteps``), for :meth:`denoise_cached`.

        Args:
            *features (Tensor): The subclass's feature inputs, as in its ``forward``.
            timesteps (Tensor, optional): Noise levels the sampler will visit; their terms are
                computed here at once (small GEMMs instead of GEMVs at every step).
                Defaults to None.
        """
        query_side, key_side = self.sides(*features)
        query_proj, key_proj = self.q_proj(query_side), self.k_proj(key_side)
        hidden_weight_h, hidden_weight_e = self.decoder_first_weights()
        cache = DenoiserCache(
            query_proj=query_proj,
            key_proj=key_proj,
            query_key=(query_proj * key_proj).sum(dim=-1),
            hidden_value=F.linear(F.linear(self.v_proj(key_side), self.proj.weight),
                                  hidden_weight_h),
            hidden_candidate=F.linear(key_side, hidden_weight_e, self.decoder[0].bias))
        if not torch.is_grad_enabled():
            cache = cache._replace(workspace=torch.empty_like(cache.hidden_candidate))
        if timesteps is None or len(timesteps) == 0:
            return cache
        levels = [int(k) for k in timesteps]
        noise = self.noise_level_terms(torch.tensor(levels, device=key_side.device))
        return cache._replace(noise_rows={k: row for row, k in enumerate(levels)},
                              noise_hidden=noise.hidden,
                              noise_logits=attention_logits(cache, noise))

    def noise_level_terms(self, timesteps: Tensor) -> NoiseLevelTerms:
        """:class:`NoiseLevelTerms` of the noise levels ``timesteps`` ``(S,)``.

        Args:
            timesteps (Tensor): ``(S,)`` integer noise levels.
        """
        cond = self.embed_timestep(timesteps)
        query, key = self.q_proj(cond), self.k_proj(cond)
        hidden_weight_h, _ = self.decoder_first_weights()
        return NoiseLevelTerms(query=query, key=key, query_key=(query * key).sum(dim=-1),
                               hidden=self.proj(self.v_proj(cond)) @ hidden_weight_h.t())

    def noise_level_at(self, timestep: int, cache: DenoiserCache) -> tuple[Tensor, Tensor]:
        """``(noise hidden (2D,), attention logits without x (B, N))`` of one noise level.

        Args:
            timestep (int): the noise level k.
            cache (DenoiserCache): :meth:`precompute` of the queries and candidates.
        """
        if cache.noise_rows and timestep in cache.noise_rows:
            row = cache.noise_rows[timestep]
            return cache.noise_hidden[row], cache.noise_logits[..., row]
        noise = self.noise_level_terms(torch.tensor([timestep], device=cache.key_proj.device))
        return noise.hidden[0], attention_logits(cache, noise)[..., 0]

    def denoise_cached(self, x: Tensor, timestep: int, cache: DenoiserCache) -> Tensor:
        """:meth:`forward` at one noise level ``timestep`` for all queries, from ``cache``.

        Args:
            x (Tensor): ``(B, N)`` noisy distribution x_k.
            timestep (int): The noise level k shared by all B queries.
            cache (DenoiserCache): :meth:`precompute` of the same queries and candidates.

        Returns:
            Tensor: ``(B, N)`` predicted x̂0, equal to ``forward`` up to float rounding.
        """
        noise_hidden, logits = self.noise_level_at(timestep, cache)
        attn = (logits + x).softmax(dim=-1)
        summary_hidden = torch.bmm(attn.unsqueeze(1), cache.hidden_value) + noise_hidden
        if cache.workspace is None:
            return self.decode(cache.hidden_candidate + summary_hidden, attn)
        # The step's decoder hidden layer overwrites the buffer of the previous step: a fresh
        # (B, N, 2D) tensor per step costs more than the add itself.
        return self.decode(torch.add(cache.hidden_candidate, summary_hidden,
                                     out=cache.workspace), attn)

    def decoder_first_weights(self) -> tuple[Tensor, Tensor]:
        """``(W1_h, W1_e)``: the decoder's first weight split over its input ``[h ; e_n]``."""
        return self.decoder[0].weight.split(self.width, dim=1)

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
        # decoder([h ; e_n]) with its first layer split: W1_h h is computed once per query
        # instead of once per candidate.
        hidden_weight_h, hidden_weight_e = self.decoder_first_weights()
        hidden = (F.linear(summary, hidden_weight_h).unsqueeze(1) +
                  F.linear(key_side, hidden_weight_e, self.decoder[0].bias))
        return self.decode(hidden, attn)

    def decode(self, hidden: Tensor, attn: Tensor) -> Tensor:
        """The decoder after its first layer, plus the attention residual:
        ``x̂0_n = W2 relu(hidden_n) + b2 + a_n`` for the pre-activation ``hidden`` (B, N, 2D).

        Args:
            hidden (Tensor): ``(B, N, 2D)`` pre-activation of the decoder's hidden layer.
            attn (Tensor): ``(B, N)`` attention weights over the candidates.
        """
        return self.decoder[2](hidden.relu_()).squeeze(-1) + attn
