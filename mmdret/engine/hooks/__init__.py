from .logit_scale_clamp_hook import LogitScaleClampHook

__all__ = ['LogitScaleClampHook']
