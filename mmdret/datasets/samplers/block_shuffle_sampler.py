import torch
from mmengine.dataset import DefaultSampler

from mmdret.registry import DATA_SAMPLERS

from .epoch_index import seeded_indices


@DATA_SAMPLERS.register_module()
class BlockShuffleSampler(DefaultSampler):
    """Shuffle blocks of ``block_size`` consecutive indices, keeping each block together.

    When an annotation lists related videos next to each other (the demo data lists the four
    directions of one shape/colour/size group together), batches made of whole blocks contain
    hard negatives for the contrastive loss. Sharding, seeding and ``set_epoch`` behave as in
    :class:`mmengine.dataset.DefaultSampler`; indices are :class:`SeededIndex` (seed, epoch).

    Args:
        dataset (Dataset): the dataset.
        block_size (int): indices per block; the last block may be shorter.
        shuffle (bool): shuffle the block order. Defaults to True.
        seed (int, optional): random seed. Defaults to None (synchronised across ranks).
        round_up (bool): pad to a multiple of the world size. Defaults to True.
    """

    def __init__(self, dataset, block_size, shuffle=True, seed=None, round_up=True):
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.block_size = block_size

    def __iter__(self):
        size = len(self.dataset)
        if not self.shuffle:
            indices = list(range(size))
        else:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            num_blocks = -(-size // self.block_size)
            order = torch.randperm(num_blocks, generator=generator).tolist()
            indices = [i for block in order
                       for i in range(block * self.block_size,
                                      min((block + 1) * self.block_size, size))]
        if self.round_up:
            indices = (indices * int(self.total_size / len(indices) + 1))[:self.total_size]
        # Consecutive blocks per rank keep blocks whole on every rank.
        per_rank = self.total_size // self.world_size
        return seeded_indices(indices[self.rank * per_rank:(self.rank + 1) * per_rank],
                              self.seed, self.epoch)
