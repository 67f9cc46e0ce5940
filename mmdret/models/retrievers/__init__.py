from .diffusion_ret import DiffusionRet

__all__ = ['DiffusionRet']
from .xpool import XPool
from .dits import DITS
