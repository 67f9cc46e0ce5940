"""DefaultInitModule: the reference init survives mmengine's init_weights unless init_cfg
replaces it."""
import torch
from torch import nn

from mmdret.models.heads import XPoolFramePooling


def test_default_init_survives_init_weights_unless_init_cfg_replaces_it():
    pool = XPoolFramePooling(embed_dim=4)
    nn.init.zeros_(pool.q_proj.weight)
    pool.init_weights()  # mmengine re-running init keeps the official identity init
    assert torch.equal(pool.q_proj.weight, torch.eye(4))
    other = XPoolFramePooling(embed_dim=4, init_cfg=dict(type='Constant', layer='Linear', val=3.))
    other.init_weights()
    assert torch.equal(other.q_proj.weight, torch.full((4, 4), 3.))
