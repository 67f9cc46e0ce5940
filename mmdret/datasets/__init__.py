import mmaction.datasets  # noqa: F401  (fills the parent registries)

from .base_retrieval_dataset import BaseRetrievalDataset
from .msrvtt_dataset import MSRVTTRetrievalDataset
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseRetrievalDataset', 'MSRVTTRetrievalDataset']
from .cached_feature_dataset import CachedFeatureDataset  # noqa: E402,F401
