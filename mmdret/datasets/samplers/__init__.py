from .block_shuffle_sampler import BlockShuffleSampler

__all__ = ['BlockShuffleSampler']
