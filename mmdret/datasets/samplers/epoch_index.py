"""Dataset indices that carry the sampler's seed and epoch to the dataset, also inside
(persistent) dataloader workers, so that per-item random choices are functions of
``(seed, epoch, index)`` and a resumed run repeats them exactly."""
from mmengine.dataset import DefaultSampler

from mmdret.registry import DATA_SAMPLERS


class SeededIndex(int):
    """An ``int`` dataset index with the ``seed`` and ``epoch`` it was sampled for."""

    def __new__(cls, index, seed, epoch):
        obj = super().__new__(cls, index)
        obj.seed, obj.epoch = seed, epoch
        return obj

    def __reduce__(self):  # survives the trip to a dataloader worker
        return SeededIndex, (int(self), self.seed, self.epoch)


def seeded_indices(indices, seed, epoch):
    """``indices`` as :class:`SeededIndex` of ``seed`` and ``epoch``.

    Args:
        indices (Iterable[int]): the dataset indices, in sampling order.
        seed (int): the sampler's seed.
        epoch (int): the epoch the indices are sampled for.

    Returns:
        Iterator[SeededIndex]: the indices, lazily, carrying ``seed`` and ``epoch``.
    """
    return (SeededIndex(index, seed, epoch) for index in indices)


@DATA_SAMPLERS.register_module()
class EpochAwareSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order, sharding, ``set_epoch``) yielding
    :class:`SeededIndex` so that the dataset knows the seed and epoch of each item (used by
    ``caption_sampling='random'``)."""

    def __iter__(self):
        return seeded_indices(super().__iter__(), self.seed, self.epoch)
