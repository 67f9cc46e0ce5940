import math

import torch
import torch.nn.functional as F

from mmdret.registry import MODELS, TASK_UTILS
from mmdret.utils.scope import in_mmdret_scope
from .xpool import XPool

GAP_DIRECTIONS = ('v-t', 't-v')
VARIANTS = ('dits', 'fixed_prior', 'vanilla')
PRETRAIN_LOSSES = {'l2': F.mse_loss, 'l1': F.l1_loss}
VANILLA_SCHEDULER = dict(
    type='DDPMScheduler', num_train_timesteps=10, beta_schedule='linear',
    schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None),
    prediction_type='epsilon', clip_sample=True, clip_sample_range=1.0,
    variance_type='fixed_large')


@MODELS.register_module()
class DITS(XPool):
    """DITS (Wang et al., NeurIPS 2024): X-Pool whose text embedding is aligned by a truncated
    diffusion chain before the similarity (paper Sec. 3).

    Method (defaults, ``gap_direction='v-t'``, ``condition='none'``)::

        t_k   = CLIP EOT embedding of text k (unnormalised)
        v0_k  = DITSAligner.sample(start=t_k)            (T' steps of Eq. 8, per text)
        S[k, i] = cos(v0_k, pool(t_k, frames_i))         (pool query: the original t_k)

    The only loss is the symmetric InfoNCE on S (Eq. 2); CLIP, pooling and aligner train
    jointly, gradients flowing through all T' steps (and into CLIP via v_{T'} = t).
    ``v0_k`` depends on text k only, so it is computed once per text in :meth:`extract_feat`
    (the paper's "cache the aligned embeddings"), and the score of (k, i) depends on text k and
    video i only.

    Ablation switches (Tables 5-6):

    * ``condition='video'`` / ``'both'``: ε_γ is conditioned on the pooled video pool(t_k, v_i)
      of the *candidate* (never the ground-truth video), so the chain runs per (text, video) pair.
      ``'text'`` conditions on t_k and stays per text.
    * ``gap_direction='t-v'`` (δ = t - v): the chain starts at the pooled video pool(t_k, v_i)
      and S[k, i] = cos(t_k, v0_{k,i}); per pair.
    * ``freeze_clip=True``: "DITS (Fix CLIP)"; CLIP (with its logit scale, which the paper
      does not mention) is frozen.
    * ``variant='fixed_prior'``: t + δ with δ ~ N(0, ``prior_variance`` I) (paper Sec. 3.2),
      no aligner network is used.

    * ``variant='vanilla'``: the vanilla-diffusion baseline of the paper's Sec. 3.2. A DDPM
      chain on the gap δ from δ_T ~ N(0, I) with ε_γ(δ_t, t, c = t_k) (so
      ``condition='text'`` is required), ``vanilla_scheduler`` steps (Eq. 7, σ² = β) and the aligned text t_k + δ₀. Two stages:
      ``vanilla_pretrain=True`` freezes CLIP and the pooling (load a trained X-Pool) and trains
      the aligner alone with the ε-regression ``vanilla_pretrain_loss`` (L2; Table 7: L2 > L1)
      on δ₀ = pool(t_k, v_k) - t_k of the ground-truth pairs; ``vanilla_pretrain=False`` then
      fine-tunes everything with the InfoNCE through the whole reverse chain.

    Noise: training draws z from the global RNG. At evaluation (``noise_at_test=True``, Eq. 8
    keeps z for τ > 1) each text's z comes from a generator seeded by ``noise_seed`` and the
    text's dataset index (the paper does not say how), so a text's aligned embedding does not
    depend on which other texts are in the set or in its batch. Per-pair chains with ``'t-v'`` use
    (z_text + z_video)/√2, still N(0, I) and a function of the pair only.

    Args:
        encoder (dict): ``CLIPTextFrameEncoder`` (``temporal_layers=0``), see :class:`XPool`.
        aligner (dict): the ``DITSAligner``. Defaults to the paper setting.
        truncated_steps (int, optional): overrides the aligner's T'. Defaults to None.
        condition (str, optional): overrides the aligner's condition. Defaults to None.
        gap_direction (str): ``'v-t'`` (the method) or ``'t-v'``. Defaults to 'v-t'.
        pool_query (str): pooling query, ``'text'`` (t, default, as T-MASS) or ``'aligned'``
            (v0; only with per-text chains; the paper leaves the choice open). Defaults to 'text'.
        freeze_clip (bool): fixed-CLIP ablation. Defaults to False (joint training).
        noise_at_test (bool): keep Eq. 8's z at evaluation. Defaults to True.
        noise_seed (int): base seed of the evaluation noise (paper seed). Defaults to 24.
        variant (str): ``'dits'``, ``'fixed_prior'`` or ``'vanilla'``. Defaults to 'dits'.
        prior_variance (float): σ² of the fixed-prior ablation (paper: 0.1 best, 1.0).
            Defaults to 0.1.
        vanilla_scheduler (dict): the ``TASK_UTILS`` DDPM scheduler of the vanilla variant
            (paper: T = 10, the linear β from 0.1 to 0.99, ε-prediction, σ² = β). Its x̂0 is
            clamped to [-1, 1] as in Ho et al.'s sampler; ``clip_sample=False`` is Eq. 7
            verbatim, whose 1/√α steps amplify ε errors by up to 1/√ᾱ_T ≈ 480 with this β
            (measured on the demo: aligned-embedding gaps of norm ~2,300 instead of ~10).
        vanilla_pretrain (bool): the vanilla variant's pretraining stage. Defaults to False.
        vanilla_pretrain_loss (str): ``'l2'`` or ``'l1'`` ε-regression. Defaults to 'l2'.
        **kwargs (dict): other :class:`XPool` arguments (``pooling``, ``contrastive_loss``, ...).
    """

    @in_mmdret_scope
    def __init__(self,
                 encoder,
                 aligner=dict(type='DITSAligner'),
                 truncated_steps=None,
                 condition=None,
                 gap_direction='v-t',
                 pool_query='text',
                 freeze_clip=False,
                 noise_at_test=True,
                 noise_seed=24,
                 variant='dits',
                 prior_variance=0.1,
                 vanilla_scheduler=VANILLA_SCHEDULER,
                 vanilla_pretrain=False,
                 vanilla_pretrain_loss='l2',
                 **kwargs):
        super().__init__(encoder, **kwargs)
        if gap_direction not in GAP_DIRECTIONS:
            raise ValueError(f'gap_direction must be one of {GAP_DIRECTIONS}')
        if variant not in VARIANTS:
            raise ValueError(f'variant must be one of {VARIANTS}')
        aligner = dict(aligner)
        if truncated_steps is not None:
            aligner['truncated_steps'] = truncated_steps
        if condition is not None:
            aligner['condition'] = condition
        self.aligner = MODELS.build(aligner)
        self.gap_direction = gap_direction
        self.variant = variant
        self.prior_variance = prior_variance
        self.vanilla_pretrain = vanilla_pretrain
        if variant == 'vanilla':
            if self.aligner.condition != 'text' or gap_direction != 'v-t':
                raise ValueError("variant='vanilla' denoises δ = v - t conditioned on the text: "
                                 "it needs condition='text' and gap_direction='v-t'")
            if vanilla_pretrain_loss not in PRETRAIN_LOSSES:
                raise ValueError(f'vanilla_pretrain_loss must be one of {list(PRETRAIN_LOSSES)}')
            self.vanilla_scheduler = TASK_UTILS.build(vanilla_scheduler)
            self.pretrain_loss = PRETRAIN_LOSSES[vanilla_pretrain_loss]
        elif vanilla_pretrain:
            raise ValueError("vanilla_pretrain needs variant='vanilla'")
        self.per_pair = variant == 'dits' and (
            gap_direction == 't-v' or self.aligner.condition in ('video', 'both'))
        if pool_query not in ('text', 'aligned'):
            raise ValueError("pool_query must be 'text' or 'aligned'")
        if pool_query == 'aligned' and self.per_pair:
            raise ValueError("pool_query='aligned' needs a per-text chain (gap 'v-t' with "
                             "condition 'none' or 'text')")
        self.pool_query = pool_query
        self.noise_at_test = noise_at_test
        self.noise_seed = noise_seed
        self.freeze_clip = freeze_clip or vanilla_pretrain
        if self.freeze_clip:
            self.encoder.requires_grad_(False)
        if vanilla_pretrain:
            self.pooling.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if self.freeze_clip:
            self.encoder.eval()
        if self.vanilla_pretrain:
            self.pooling.eval()
        return self

    # -- noise ---------------------------------------------------------------------------------
    @property
    def num_noise(self):
        if self.variant == 'fixed_prior':
            return 1
        if self.variant == 'vanilla':
            return len(self.vanilla_scheduler.timesteps)  # δ_T and one z per step but the last
        return max(self.aligner.truncated_steps - 1, 0)

    def draw_noise(self, num, dim, device, indices=None, offset=0):
        """(num, T'-1, D) chain noise: global RNG while training, per-index seeded at test.

        At test each item's noise comes from a generator seeded by ``noise_seed``, its index and
        ``offset``; with ``noise_at_test=False`` it is zero. The middle dimension is
        :attr:`num_noise` (T'-1 for the DITS chain, 1 for the fixed prior, the DDPM steps for the
        vanilla variant).

        Args:
            num (int): number of items.
            dim (int): feature width D.
            device (torch.device | str): device of the noise.
            indices (Tensor, optional): ``(num,)`` global item indices, required at test with
                ``noise_at_test``. Defaults to None.
            offset (int): added to each seed, 0 for texts and 1 for videos, so a text and a video
                of the same index draw different noise. Defaults to 0.

        Returns:
            Tensor: ``(num, num_noise, D)`` noise.
        """
        if self.training:
            return torch.randn(num, self.num_noise, dim, device=device)
        if not self.noise_at_test:
            return torch.zeros(num, self.num_noise, dim, device=device)
        noise = []
        for index in indices.tolist():
            generator = torch.Generator().manual_seed(
                (self.noise_seed * 1_000_003 + 2 * int(index) + offset) % (2**63))
            noise.append(torch.randn(self.num_noise, dim, generator=generator))
        return torch.stack(noise).to(device) if noise else torch.zeros(
            0, self.num_noise, dim, device=device)

    # -- chains --------------------------------------------------------------------------------
    def align_text(self, text, noise):
        """Per-text aligned embedding v0 (Nt, D) from text embeddings and (Nt, T'-1, D) noise.

        Args:
            text (Tensor): ``(Nt, D)`` text embeddings t (CLIP EOT, unnormalised).
            noise (Tensor): ``(Nt, num_noise, D)`` chain noise from :meth:`draw_noise`.

        Returns:
            Tensor: ``(Nt, D)`` aligned embeddings v0.
        """
        if self.variant == 'fixed_prior':
            return text + math.sqrt(self.prior_variance) * noise[:, 0]
        if self.variant == 'vanilla':
            return text + self.reverse_gap_chain(text, noise)
        cond = text if self.aligner.condition == 'text' else None
        return self.aligner.sample(text, cond=cond, noise=noise.transpose(0, 1))

    def reverse_gap_chain(self, text, noise):
        """δ₀ of the vanilla variant: DDPM from δ_T = ``noise[:, 0]``, then step noise
        ``noise[:, i]``.

        Args:
            text (Tensor): ``(Nt, D)`` text embeddings, the aligner's condition.
            noise (Tensor): ``(Nt, S, D)`` noise: δ_T, then the step noises (see
                :meth:`draw_noise`).

        Returns:
            Tensor: ``(Nt, D)`` the denoised gap δ₀.
        """
        scheduler = self.vanilla_scheduler
        delta = noise[:, 0]
        for i, t in enumerate(scheduler.timesteps):
            eps = self.aligner(delta, t, cond=text)
            step_noise = noise[:, i + 1] if i + 1 < noise.shape[1] else None
            delta = scheduler.step(eps, t, delta, noise=step_noise).prev_sample
        return delta

    def describe_text(self, text, text_index):
        noise = self.draw_noise(text.shape[0], text.shape[1], text.device, text_index, 0)
        features = dict(emb=text)
        if self.per_pair:
            features['noise'] = noise
        else:
            features['aligned'] = self.align_text(text, noise)
        return features

    def video_features(self, inputs, index):
        video = super().video_features(inputs, index)
        if self.per_pair and self.gap_direction == 't-v':
            frames = video['frames']
            video['noise'] = self.draw_noise(frames.shape[0], frames.shape[-1], frames.device,
                                             index, 1)
        return video

    def embed(self, modality, features):
        if modality == 'text' and 'aligned' in features:
            return F.normalize(features['aligned'].float(), dim=-1)
        return super().embed(modality, features)

    def training_features(self, inputs, data_samples):
        text, video = super().training_features(inputs, data_samples)
        text = self.describe_text(text['emb'], None)
        if self.per_pair and self.gap_direction == 't-v':
            frames = video['frames']
            video['noise'] = self.draw_noise(frames.shape[0], frames.shape[-1], frames.device)
        return text, video

    def pooling_query(self, text):
        return text['aligned'] if self.pool_query == 'aligned' else text['emb']

    def condition_for(self, text_emb, pooled):
        condition = self.aligner.condition
        if condition == 'none':
            return None
        if condition == 'text':
            return text_emb
        if condition == 'video':
            return pooled
        return torch.cat([text_emb.expand_as(pooled), pooled], dim=-1)

    def pair_similarity(self, text, pooled, text_slice, video):
        if not self.per_pair:
            return torch.einsum('td,tvd->tv', F.normalize(text['aligned'][text_slice], dim=-1),
                                F.normalize(pooled, dim=-1))
        emb = text['emb'][text_slice].to(pooled)[:, None]  # (c, 1, D)
        cond = self.condition_for(emb, pooled)
        z_text = text['noise'][text_slice].to(pooled).transpose(0, 1)[:, :, None]  # (S, c, 1, D)
        if self.gap_direction == 'v-t':
            # The chain starts at the text; the candidate video only enters as the condition.
            aligned = self.aligner.sample(emb.expand_as(pooled), cond=cond, noise=z_text)
            return (F.normalize(aligned, dim=-1) * F.normalize(pooled, dim=-1)).sum(-1)
        z_video = video['noise'].to(pooled).transpose(0, 1)[:, None]  # (S, 1, Nv, D)
        aligned = self.aligner.sample(pooled, cond=cond, noise=(z_text + z_video) / math.sqrt(2))
        return (F.normalize(emb, dim=-1) * F.normalize(aligned, dim=-1)).sum(-1)

    # -- training ------------------------------------------------------------------------------
    def loss(self, inputs, data_samples):
        if not self.vanilla_pretrain:
            return super().loss(inputs, data_samples)
        return dict(loss_pretrain=self.vanilla_pretrain_loss(inputs))

    def vanilla_pretrain_loss(self, inputs):
        """ε-regression of the vanilla variant on the ground-truth gaps, CLIP and pooling fixed.

        Args:
            inputs (dict): the training batch (one caption per video, the pairs on the diagonal).

        Returns:
            Tensor: the scalar ``vanilla_pretrain_loss`` (L2 or L1) between the predicted and the
            drawn noise.
        """
        with torch.no_grad():
            text, frames = self.encode(inputs)
            pooled = self.pooling(text, frames, inputs['video_mask'])  # (Nt, Nv, D)
            gap = torch.diagonal(pooled, dim1=0, dim2=1).t() - text  # δ₀ = pool(t_k, v_k) - t_k
        scheduler = self.vanilla_scheduler
        steps = torch.randint(0, scheduler.num_train_timesteps, (gap.shape[0], ),
                              device=gap.device)
        noise = torch.randn_like(gap)
        predicted = self.aligner(scheduler.add_noise(gap, noise, steps), steps, cond=text)
        return self.pretrain_loss(predicted, noise)
