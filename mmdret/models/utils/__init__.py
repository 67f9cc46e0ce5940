"""Building blocks shared by the heads: attention pooling, timestep embeddings, DiT blocks and
the default-init module base."""
from .attention_pooling import masked_frame_pooling
from .default_init import DefaultInitModule
from .dit_blocks import Attention, DiTBlock, FinalLayer, Mlp, modulate
from .timestep_embedding import (SinusoidalTable, TimestepEmbedder, sinusoidal_embedding,
                                 sinusoidal_table)

__all__ = [
    'masked_frame_pooling', 'DefaultInitModule', 'Attention', 'DiTBlock', 'FinalLayer', 'Mlp', 'modulate',
    'SinusoidalTable', 'TimestepEmbedder', 'sinusoidal_embedding', 'sinusoidal_table'
]
