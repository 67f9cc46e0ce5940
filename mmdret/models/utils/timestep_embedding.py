"""Sinusoidal embeddings of integer positions / noise levels and the timestep embedder."""
import math

import torch
from torch import Tensor, nn

# The Transformer sinusoid base: frequencies are SINUSOID_BASE ** (-2i / dim).
SINUSOID_BASE = 10000.0
# How the sin and cos halves of a sinusoidal embedding are laid out along its width.
LAYOUTS = ('interleaved', 'concatenated')


def sinusoidal_embedding(positions: Tensor, dim: int, layout: str = 'interleaved') -> Tensor:
    """Sinusoids of ``positions`` at the frequencies ``w_i = SINUSOID_BASE ** (-2i / dim)``.

    Args:
        positions (Tensor): ``(L,)`` integer or float positions.
        dim (int): Even embedding width.
        layout (str): ``'interleaved'``: row ``[sin(k w_0), cos(k w_0), sin(k w_1), ...]`` (the
            Transformer positional-encoding table DiffusionRet uses); ``'concatenated'``:
            ``[cos(k w_0), ..., cos(k w_{dim/2-1}), sin(k w_0), ...]`` (DiT's timestep
            embedding). Defaults to 'interleaved'.

    Returns:
        Tensor: ``(L, dim)`` float32 embeddings on the device of ``positions``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if dim % 2:
        raise ValueError(f'a sinusoidal embedding needs an even width, got {dim}')
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) *
        (-math.log(SINUSOID_BASE) / dim))
    angle = positions[:, None].float() * frequency[None]
    if layout == 'concatenated':
        return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(-2)


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """The fixed interleaved table of positions ``0 .. length - 1`` (see
    :func:`sinusoidal_embedding`).

    Args:
        length (int): Number of rows (positions / noise levels).
        dim (int): Even embedding width.

    Returns:
        Tensor: ``(length, dim)`` float32 table.
    """
    return sinusoidal_embedding(torch.arange(length), dim, layout='interleaved')


class SinusoidalTable(nn.Module):
    """Holds the sinusoidal table as the persistent buffer ``pe`` of shape ``(length, 1, dim)``.

    Stands in for the official DiffusionRet ``PositionalEncoding``, of which only the buffer is
    ever used (its dropout-applying ``forward`` is never called), so only the buffer is kept.

    Args:
        length (int): Number of rows.
        dim (int): Embedding width.
    """

    def __init__(self, length: int, dim: int):
        super().__init__()
        self.register_buffer('pe', sinusoidal_table(length, dim).unsqueeze(1))


class TimestepEmbedder(nn.Module):
    """Noise-level embedding ``c = Linear-SiLU-Linear(sinusoid(k))``.

    Two layouts, each with the submodule names of the code it reproduces, so that checkpoints
    of either load unchanged:

    - ``'interleaved'`` (DiffusionRet): ``sinusoid(k)`` is row k of a fixed
      :class:`SinusoidalTable` of width ``width``, kept as ``sequence_pos_encoder``; the MLP
      ``time_embed`` maps ``width -> width``.
    - ``'concatenated'`` (DiT): ``sinusoid(k)`` is computed on the fly with
      ``frequency_dim`` channels (cos half first, no table, so any k works); the MLP ``mlp``
      maps ``frequency_dim -> width``.

    Args:
        width (int): Output width.
        layout (str): ``'interleaved'`` or ``'concatenated'``, see above. Defaults to
            'interleaved'.
        frequency_dim (int, optional): Sinusoid width of the ``'concatenated'`` layout; the
            ``'interleaved'`` one always uses ``width``. Defaults to 256 (DiT's).
        max_timesteps (int): Rows of the ``'interleaved'`` table. Defaults to 5000.
        table (SinusoidalTable, optional): An existing table to use for the ``'interleaved'``
            layout instead of building one; DiffusionRet's denoiser shares its own table this
            way (it registers the same table on itself too). Defaults to None.
    """

    def __init__(self,
                 width: int,
                 layout: str = 'interleaved',
                 frequency_dim: int = 256,
                 max_timesteps: int = 5000,
                 table: SinusoidalTable | None = None):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
        self.layout = layout
        if layout == 'interleaved':
            self.sequence_pos_encoder = (table if table is not None else
                                         SinusoidalTable(max_timesteps, width))
            in_width = self.sequence_pos_encoder.pe.shape[-1]
        else:
            self.frequency_embedding_size = in_width = frequency_dim
        mlp = nn.Sequential(nn.Linear(in_width, width), nn.SiLU(), nn.Linear(width, width))
        self._mlp_name = 'time_embed' if layout == 'interleaved' else 'mlp'
        self.add_module(self._mlp_name, mlp)

    def sinusoid(self, timesteps: Tensor) -> Tensor:
        """``(B, in_width)`` sinusoids of the integer noise levels ``timesteps`` ``(B,)``.

        Args:
            timesteps (Tensor): ``(B,)`` integer noise levels.
        """
        if self.layout == 'interleaved':
            return self.sequence_pos_encoder.pe[timesteps, 0]
        return sinusoidal_embedding(timesteps, self.frequency_embedding_size, self.layout)

    def forward(self, timesteps: Tensor) -> Tensor:
        """Map integer noise levels ``(B,)`` to embeddings ``(B, width)``.

        Args:
            timesteps (Tensor): ``(B,)`` integer noise levels.

        Returns:
            Tensor: ``(B, width)`` embeddings, in the dtype of the MLP's weights.
        """
        mlp = getattr(self, self._mlp_name)
        return mlp(self.sinusoid(timesteps).to(mlp[0].weight.dtype))
