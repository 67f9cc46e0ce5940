import mmaction.datasets  # noqa: F401  (fills the parent registries)

from .base_retrieval_dataset import BaseRetrievalDataset
from .msrvtt_dataset import MSRVTTRetrievalDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseRetrievalDataset', 'MSRVTTRetrievalDataset']
