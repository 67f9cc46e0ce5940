from .logit_scale_clamp_hook import LogitScaleClampHook
from .require_load_from_hook import RequireLoadFromHook
from .retrieval_visualization_hook import RetrievalVisualizationHook

__all__ = ['LogitScaleClampHook', 'RequireLoadFromHook', 'RetrievalVisualizationHook']
from .feature_cache_check_hook import FeatureCacheCheckHook  # noqa: E402,F401
