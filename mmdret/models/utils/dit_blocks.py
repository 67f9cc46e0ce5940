"""Diffusion Transformer (DiT, Peebles & Xie 2023) blocks with adaLN-Zero conditioning.

Module and parameter names follow ``facebookresearch/DiT`` (``models.py``) and the timm layers it
uses, so state dicts line up with theirs.
"""
from torch import Tensor, nn
from torch.nn import functional as F

# DiT's LayerNorms have no affine parameters (adaLN supplies shift and scale).
LAYER_NORM_EPS = 1e-6


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation ``x * (1 + scale) + shift``, broadcast over the token axis.

    Args:
        x (Tensor): ``(B, L, D)`` tokens.
        shift (Tensor): ``(B, D)`` shift.
        scale (Tensor): ``(B, D)`` scale.

    Returns:
        Tensor: ``(B, L, D)`` modulated tokens.
    """
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm ``Attention``, qkv bias).

    Args:
        dim (int): Token width; must be divisible by ``num_heads``.
        num_heads (int): Attention heads.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Self-attention over the ``L`` tokens of ``x`` ``(B, L, D)``; returns ``(B, L, D)``.

        Args:
            x (Tensor): ``(B, L, D)`` tokens.

        Returns:
            Tensor: ``(B, L, D)`` attended tokens, after the output projection.
        """
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    """Two-layer MLP with tanh-approximated GELU (timm ``Mlp`` as DiT configures it).

    Args:
        dim (int): Input and output width.
        hidden (int): Hidden width.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate='tanh')
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``fc2(gelu(fc1(x)))`` on the last axis.

        Args:
            x (Tensor): ``(..., dim)`` inputs.

        Returns:
            Tensor: ``(..., dim)`` outputs.
        """
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """DiT block: self-attention and MLP, each with adaLN-Zero shift/scale/gate from ``c``.

    Args:
        hidden_size (int): Token width.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden width over ``hidden_size``. Defaults to 4.0.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LAYER_NORM_EPS)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Tokens ``x`` ``(B, L, D)`` conditioned on ``c`` ``(B, D)``; returns ``(B, L, D)``.

        Args:
            x (Tensor): ``(B, L, D)`` tokens.
            c (Tensor): ``(B, D)`` conditioning vector (e.g. timestep plus condition embedding).

        Returns:
            Tensor: ``(B, L, D)`` tokens after the gated attention and MLP residuals.
        """
        (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
         gate_mlp) = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    """DiT output layer (patch size 1): LayerNorm, adaLN shift/scale from ``c``, Linear.

    Args:
        hidden_size (int): Token width.
        out_channels (int): Output width.
    """

    def __init__(self, hidden_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LAYER_NORM_EPS)
        self.linear = nn.Linear(hidden_size, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Tokens ``x`` ``(B, L, D)`` conditioned on ``c`` ``(B, D)``; returns ``(B, L, out)``.

        Args:
            x (Tensor): ``(B, L, D)`` tokens.
            c (Tensor): ``(B, D)`` conditioning vector.

        Returns:
            Tensor: ``(B, L, out_channels)`` outputs.
        """
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))
