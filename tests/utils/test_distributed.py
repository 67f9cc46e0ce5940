"""Single-process behaviour of the gathering helpers (multi-process runs live elsewhere)."""
import datetime

import torch
import torch.distributed as dist

from mmdret.utils.distributed import (first_occurrence, gather_indexed, gather_with_grad,
                                      owned_process_group)


def test_first_occurrence_sorted_unique_and_first_positions():
    indices = torch.tensor([5, 2, 9, 2, 5, 0, 9, 7])
    unique, first = first_occurrence(indices)
    assert unique.tolist() == [0, 2, 5, 7, 9]
    assert first.tolist() == [5, 1, 0, 7, 2]
    # Reference: the first position of each value by a python scan.
    reference = {}
    for position, value in enumerate(indices.tolist()):
        reference.setdefault(value, position)
    assert first.tolist() == [reference[v] for v in sorted(reference)]
    assert torch.equal(indices[first], unique)


def test_first_occurrence_no_duplicates_and_empty():
    unique, first = first_occurrence(torch.tensor([3, 1, 2]))
    assert unique.tolist() == [1, 2, 3] and first.tolist() == [1, 2, 0]
    unique, first = first_occurrence(torch.tensor([], dtype=torch.long))
    assert unique.numel() == 0 and first.numel() == 0


def test_gather_indexed_single_process_dedup_sort_align():
    # Sampler padding repeated samples 4 and 1; features encode their own index.
    indices = torch.tensor([4, 1, 3, 0, 2, 4, 1])
    features = dict(
        text=indices[:, None].float().repeat(1, 3) * 10,
        mask=torch.stack([indices, indices + 100], dim=1))
    gathered, unique = gather_indexed(features, indices)
    assert unique.tolist() == [0, 1, 2, 3, 4]
    assert set(gathered) == {'text', 'mask'}
    assert torch.equal(gathered['text'], torch.arange(5)[:, None].float().repeat(1, 3) * 10)
    assert torch.equal(gathered['mask'], torch.stack([torch.arange(5), torch.arange(5) + 100], 1))


def test_gather_indexed_keeps_first_copy():
    indices = torch.tensor([1, 0, 1])
    features = dict(x=torch.tensor([[1.0], [2.0], [3.0]]))  # the repeated copy differs
    gathered, unique = gather_indexed(features, indices)
    assert unique.tolist() == [0, 1]
    assert gathered['x'].tolist() == [[2.0], [1.0]]


def test_gather_with_grad_is_identity_in_one_process():
    x = torch.randn(4, 3, requires_grad=True)
    y = gather_with_grad(x)
    assert y is x
    (y * torch.arange(3.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(3.0).expand(4, 3))


def init_single_process_group(rendezvous_file):
    dist.init_process_group('gloo', init_method=f'file://{rendezvous_file}', rank=0,
                            world_size=1, timeout=datetime.timedelta(seconds=30))


def test_owned_process_group_destroys_only_the_group_it_saw_created(tmp_path):
    with owned_process_group():
        init_single_process_group(tmp_path / 'a')  # what the Runner does inside main()
        assert dist.is_initialized()
    assert not dist.is_initialized()

    init_single_process_group(tmp_path / 'b')  # a caller's group, e.g. several tools per process
    try:
        with owned_process_group():
            pass
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
