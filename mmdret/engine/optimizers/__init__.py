from .bert_adam import BertAdam
from .diffusion_ret_optim_wrapper_constructor import DiffusionRetOptimWrapperConstructor
from .warmup_cosine_lr import WarmupCosineLR, warmup_cosine

__all__ = ['BertAdam', 'DiffusionRetOptimWrapperConstructor', 'WarmupCosineLR',
           'warmup_cosine']
