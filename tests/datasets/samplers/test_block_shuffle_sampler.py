"""BlockShuffleSampler keeps blocks whole, covers the dataset and shards like DefaultSampler."""
from mmdret.datasets.samplers import BlockShuffleSampler


def blocks_of(indices, block_size):
    return [indices[i:i + block_size] for i in range(0, len(indices), block_size)]


def test_blocks_stay_whole_and_every_index_appears_once():
    indices = list(BlockShuffleSampler(list(range(24)), block_size=4, seed=0))
    assert sorted(indices) == list(range(24))
    assert indices != list(range(24))  # the block order is shuffled
    for block in blocks_of(indices, 4):
        assert block == list(range(block[0], block[0] + 4))
        assert block[0] % 4 == 0
    # A shorter last block (20, 21) is kept whole too.
    ragged = list(BlockShuffleSampler(list(range(22)), block_size=4, seed=0))
    assert sorted(ragged) == list(range(22))
    start = ragged.index(20)
    assert ragged[start:start + 2] == [20, 21]


def test_epoch_changes_the_order_and_same_seed_repeats_it():
    first = BlockShuffleSampler(list(range(40)), block_size=4, seed=3)
    second = BlockShuffleSampler(list(range(40)), block_size=4, seed=3)
    assert list(first) == list(second)
    second.set_epoch(1)
    assert list(first) != list(second)


def test_two_ranks_split_whole_blocks_without_overlap(monkeypatch):
    shards = []
    for rank in range(2):
        monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info', lambda r=rank: (r, 2))
        shards.append(list(BlockShuffleSampler(list(range(32)), block_size=4, seed=1)))
    assert len(shards[0]) == len(shards[1]) == 16
    assert sorted(shards[0] + shards[1]) == list(range(32))
    for shard in shards:
        for block in blocks_of(shard, 4):
            assert block == list(range(block[0], block[0] + 4))


def test_without_shuffle_the_order_is_the_dataset_order():
    assert list(BlockShuffleSampler(list(range(10)), block_size=4, shuffle=False)) == \
        list(range(10))
