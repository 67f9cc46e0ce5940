from .block_shuffle_sampler import BlockShuffleSampler
from .epoch_index import EpochAwareSampler, SeededIndex, seeded_indices

__all__ = ['BlockShuffleSampler', 'EpochAwareSampler', 'SeededIndex', 'seeded_indices']
