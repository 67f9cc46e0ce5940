import mmaction.datasets  # noqa: F401  (fills the parent registries)

from .base_retrieval_dataset import BaseRetrievalDataset
from .msrvtt_dataset import MSRVTTRetrievalDataset
from .retrieval_collate import retrieval_collate
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseRetrievalDataset', 'MSRVTTRetrievalDataset', 'retrieval_collate']
from .cached_feature_dataset import CachedFeatureDataset  # noqa: E402,F401
from .activitynet_dataset import ActivityNetRetrievalDataset  # noqa: E402,F401
from .charades_dataset import CharadesRetrievalDataset  # noqa: E402,F401
from .didemo_dataset import DiDeMoRetrievalDataset  # noqa: E402,F401
from .lsmdc_dataset import LSMDCRetrievalDataset  # noqa: E402,F401
from .msvd_dataset import MSVDRetrievalDataset  # noqa: E402,F401
from .vatex_dataset import VATEXRetrievalDataset  # noqa: E402,F401
