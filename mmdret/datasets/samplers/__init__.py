from .block_shuffle_sampler import BlockShuffleSampler
from .distinct_video_batch_sampler import DistinctVideoBatchSampler

__all__ = ['BlockShuffleSampler', 'DistinctVideoBatchSampler']
