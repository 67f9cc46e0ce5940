from .logit_scale_clamp_hook import LogitScaleClampHook
from .non_finite_check_hook import NonFiniteCheckHook
from .require_load_from_hook import RequireLoadFromHook
from .retrieval_visualization_hook import RetrievalVisualizationHook
from .rng_state_hook import RNGStateHook

__all__ = ['LogitScaleClampHook', 'NonFiniteCheckHook', 'RequireLoadFromHook',
           'RetrievalVisualizationHook', 'RNGStateHook']
from .feature_cache_check_hook import FeatureCacheCheckHook  # noqa: E402,F401
