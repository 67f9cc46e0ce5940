from .logit_scale_clamp_hook import LogitScaleClampHook
from .require_load_from_hook import RequireLoadFromHook

__all__ = ['LogitScaleClampHook', 'RequireLoadFromHook']
from .feature_cache_check_hook import FeatureCacheCheckHook  # noqa: E402,F401
