"""Samplers pass (seed, epoch) with each index; the random caption of an item is a function of
(seed, epoch, index), the same in every process and after pickling to a worker."""
import pickle
import random

from mmdret.datasets.base_retrieval_dataset import sample_caption
from mmdret.datasets.samplers import (BlockShuffleSampler, EpochAwareSampler, SeededIndex,
                                      seeded_indices)

ITEM = dict(texts=[f'caption {i}' for i in range(20)], text_idx=list(range(100, 120)))


def pick(index):
    return sample_caption(dict(ITEM), False, 'random', index)['text_idx']


def test_seeded_index_is_an_int_and_survives_pickling():
    index = pickle.loads(pickle.dumps(SeededIndex(5, seed=3, epoch=2)))
    assert index == 5 and int(index) == 5 and (index.seed, index.epoch) == (3, 2)
    assert [1, 2, 3, 4, 5, 6][index] == 6


def test_caption_depends_on_seed_epoch_index_only():
    first = pick(SeededIndex(4, 42, 1))
    random.seed(0)  # the global RNG plays no part
    assert pick(SeededIndex(4, 42, 1)) == first
    random.seed(1)
    assert pick(SeededIndex(4, 42, 1)) == first
    per_epoch = {tuple(pick(SeededIndex(4, 42, epoch))) for epoch in range(10)}
    per_seed = {tuple(pick(SeededIndex(4, seed, 1))) for seed in range(10)}
    assert len(per_epoch) > 1 and len(per_seed) > 1
    assert len(first) == 1 and first[0] in ITEM['text_idx']


def test_samplers_yield_their_seed_and_epoch():
    dataset = list(range(12))
    for sampler in (EpochAwareSampler(dataset, seed=7),
                    BlockShuffleSampler(dataset, block_size=4, seed=7)):
        sampler.set_epoch(3)
        indices = list(sampler)
        assert sorted(indices) == dataset
        assert all(isinstance(i, SeededIndex) and (i.seed, i.epoch) == (7, 3) for i in indices)
    plain = EpochAwareSampler(dataset, seed=7)
    plain.set_epoch(3)
    from mmengine.dataset import DefaultSampler
    reference = DefaultSampler(dataset, seed=7)
    reference.set_epoch(3)
    assert list(map(int, plain)) == list(reference)  # same order as DefaultSampler
    assert list(seeded_indices([2, 1], 0, 0)) == [2, 1]
