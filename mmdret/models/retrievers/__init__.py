from .diffusion_ret import DiffusionRet

__all__ = ['DiffusionRet']
