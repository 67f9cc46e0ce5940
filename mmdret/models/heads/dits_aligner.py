import torch
from torch import nn

from mmdret.models.diffusion import truncated_chain_coefficients
from mmdret.registry import MODELS, TASK_UTILS
from mmdret.utils.scope import in_mmdret_scope
from ..utils import DefaultInitModule, DiTBlock, FinalLayer, TimestepEmbedder

CONDITIONS = ('none', 'text', 'video', 'both')


@MODELS.register_module()
class DITSAligner(DefaultInitModule):
    """DITS alignment network ε_γ and its truncated sampler (Eq. 8), NeurIPS 2024.

    **Denoiser.** ε_γ(v_τ, τ[, c]) is a DiT (N blocks, adaLN-Zero) run on the 512-d embedding as
    a *single token* (the paper does not say what the sequence is; treating the batch as the
    sequence would make a text's aligned embedding depend on its batch-mates): ``x_embedder``
    Linear → DiT blocks conditioned
    on the timestep embedding (plus the condition embedding when ``condition != 'none'``) →
    ``FinalLayer``. It "approximates the noise", i.e. it predicts an ε-like vector of the same
    width; in DITS that output is a learned per-step gap bias, never supervised by an ε-MSE.
    DiT init: xavier Linears, N(0, 0.02) on the timestep MLP, zero adaLN and final Linear, so
    ε_γ ≡ 0 at init.

    **Sampler** (Eq. 8), starting from the input embedding instead of N(0, I)::

        v_{T'} = start                                   (the text embedding t for δ = v - t)
        for τ = T', ..., 1:
            v_{τ-1} = v_τ - χ_τ ε_γ(v_τ, τ - 1[, c]) + λ_τ z_τ,   z_τ ~ N(0, I), z_1 = 0
        return v_0                                        ("aligned embedding")

    χ_τ = β_τ / (√α_τ √(1 - ᾱ_τ)) (DDPM ε-coefficient without DDPM's 1/√α_τ rescaling of v_τ)
    and λ_τ = √β_τ come from :func:`truncated_chain_coefficients` on the first T' steps of
    ``scheduler``. The step index fed to the timestep embedder is the 0-based τ - 1 (the paper
    leaves the indexing open).
    Nothing is detached: gradients flow through all T' steps into ε_γ and into ``start``.

    Args:
        embed_dim (int): width of the embedding and of the DiT (paper: d = 512 "for the whole
            model"). Defaults to 512.
        depth (int): DiT blocks N. Defaults to 4.
        num_heads (int): attention heads. Defaults to 16.
        mlp_ratio (float): MLP hidden ratio. Defaults to 4.0.
        truncated_steps (int): T', the chain length (paper: 10; 5 on DiDeMo). 0 returns the
            start unchanged (the X-Pool row of the T' sweep). Defaults to 10.
        condition (str): extra denoiser condition, ``'none'`` (the method, Table 6a best),
            ``'text'``, ``'video'`` or ``'both'`` (ablations). A condition goes through
            ``c_embedder`` (Linear d→d; Linear 2d→d on the concatenation for 'both', a choice
            the paper leaves open) and is added to the timestep embedding, as DiT adds its
            class embedding. Defaults to 'none'.
        scheduler (dict): a ``TASK_UTILS`` diffusion scheduler providing β. Without
            ``num_train_timesteps`` the schedule has length T' (the paper's sweep of T' up to
            40 implies a schedule as long as the chain). Defaults to the paper's linear β from
            0.1 to 0.99.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    @in_mmdret_scope
    def __init__(self,
                 embed_dim=512,
                 depth=4,
                 num_heads=16,
                 mlp_ratio=4.0,
                 truncated_steps=10,
                 condition='none',
                 scheduler=dict(type='DDPMScheduler', beta_schedule='linear',
                                schedule_kwargs=dict(beta_start=0.1, beta_end=0.99,
                                                     reference_steps=None)),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if condition not in CONDITIONS:
            raise ValueError(f'condition must be one of {CONDITIONS}, got {condition!r}')
        if truncated_steps < 0:
            raise ValueError(f'truncated_steps must be >= 0, got {truncated_steps}')
        self.embed_dim = embed_dim
        self.truncated_steps = truncated_steps
        self.condition = condition

        self.x_embedder = nn.Linear(embed_dim, embed_dim)
        self.t_embedder = TimestepEmbedder(embed_dim, layout='concatenated')
        if condition != 'none':
            in_dim = 2 * embed_dim if condition == 'both' else embed_dim
            self.c_embedder = nn.Linear(in_dim, embed_dim)
        self.blocks = nn.ModuleList(
            DiTBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.final_layer = FinalLayer(embed_dim, embed_dim)
        self.default_init()

        chi = lam = torch.zeros(0)
        if truncated_steps > 0:
            scheduler = dict(scheduler)
            scheduler.setdefault('num_train_timesteps', truncated_steps)
            coefficients = truncated_chain_coefficients(TASK_UTILS.build(scheduler),
                                                        truncated_steps)
            chi, lam = coefficients.chi.float(), coefficients.lam.float()
        # Entry τ - 1 holds χ_τ / λ_τ for the 1-based DITS step τ.
        self.register_buffer('chi', chi, persistent=False)
        self.register_buffer('lam', lam, persistent=False)

    def default_init(self):
        """DiT's init: xavier Linears, N(0, 0.02) timestep MLP, zero adaLN and output."""
        def basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.apply(basic_init)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # adaLN-Zero: every block starts as the identity and the output as 0.
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def forward(self, x, step, cond=None):
        """ε_γ(x, step[, cond]).

        Args:
            x (Tensor): (N, D) current chain state v_τ.
            step (Tensor | int): 0-based step index τ - 1, scalar or (N,).
            cond (Tensor, optional): (N, D) ('text'/'video') or (N, 2D) ('both') condition.

        Returns:
            Tensor: (N, D) predicted noise / gap bias.
        """
        step = torch.as_tensor(step, device=x.device)
        if step.dim() == 0:
            step = step.expand(x.shape[0])
        c = self.t_embedder(step)
        if self.condition != 'none':
            if cond is None:
                raise ValueError(f"condition='{self.condition}' needs a cond tensor")
            c = c + self.c_embedder(cond)
        h = self.x_embedder(x).unsqueeze(1)  # one token per embedding
        for block in self.blocks:
            h = block(h, c)
        return self.final_layer(h, c).squeeze(1)

    def sample(self, start, cond=None, noise=None, denoiser=None):
        """Run the truncated chain of Eq. 8 from ``start``; differentiable end to end.

        Args:
            start (Tensor): (..., D) v_{T'} (the text embedding for δ = v - t).
            cond (Tensor, optional): (..., D or 2D) denoiser condition, see ``condition``.
            noise (Tensor, optional): (T' - 1, ..., D) or broadcastable; ``noise[τ - 2]`` is
                z_τ for τ = T', ..., 2. None draws N(0, I) from the global RNG; a zero tensor
                gives the noise-free chain.
            denoiser (callable, optional): replaces ``self`` as ε_γ(x, step, cond); for tests.

        Returns:
            Tensor: (..., D) v_0, the aligned embedding.
        """
        denoiser = self if denoiser is None else denoiser
        shape = start.shape
        x = start.reshape(-1, shape[-1])
        if cond is not None:
            cond = cond.expand(*shape[:-1], cond.shape[-1]).reshape(x.shape[0], -1)
        num_noise = max(self.truncated_steps - 1, 0)
        if noise is None:
            noise = torch.randn((num_noise, *shape), dtype=start.dtype, device=start.device)
        elif num_noise:
            noise = noise.expand(num_noise, *shape)
        for tau in range(self.truncated_steps, 0, -1):
            eps = denoiser(x, tau - 1, cond)
            x = x - self.chi[tau - 1].to(x) * eps
            if tau > 1:  # no noise at the last step (z_1 = 0)
                x = x + self.lam[tau - 1].to(x) * noise[tau - 2].reshape(x.shape)
        return x.reshape(shape)
