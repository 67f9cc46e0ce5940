"""Cross-rank gathering for contrastive losses and sharded evaluation."""
from contextlib import contextmanager

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank, get_world_size


def all_gather_concat(tensor):
    """Concatenate ``tensor`` from all ranks along dim 0 (sizes may differ per rank).

    Args:
        tensor (Tensor): this rank's ``(n, ...)`` rows; the other dims must match across ranks.

    Returns:
        tuple[Tensor, slice]: the concatenation and this rank's rows in it.
    """
    if get_world_size() == 1:
        return tensor, slice(0, tensor.shape[0])
    world_size = get_world_size()
    sizes = torch.tensor([tensor.shape[0]], device=tensor.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(world_size)]
    torch_dist.all_gather(all_sizes, sizes)
    all_sizes = [int(size) for size in all_sizes]
    padded = tensor.new_zeros((max(all_sizes), *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    torch_dist.all_gather(gathered, padded.contiguous())
    rank = get_rank()
    local = slice(sum(all_sizes[:rank]), sum(all_sizes[:rank + 1]))
    return torch.cat([part[:size] for part, size in zip(gathered, all_sizes)]), local


class _GatherWithGrad(torch.autograd.Function):
    """:func:`all_gather_concat` whose backward returns the local slice of the gradient.

    The local-slice gradient is the official ``AllGather`` (and mmaction2 ``GatherLayer``)
    convention: with DDP's gradient averaging it trains the global contrastive matrix.
    """

    @staticmethod
    def forward(ctx, tensor):
        gathered, ctx.local_slice = all_gather_concat(tensor)
        return gathered

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output[ctx.local_slice]


def gather_with_grad(tensor):
    """Concatenate ``tensor`` from all ranks along dim 0; identity when not distributed.

    The backward pass returns this rank's slice of the gradient (see
    :func:`all_gather_concat`), so a contrastive loss can use the global batch.

    Args:
        tensor (Tensor): this rank's ``(n, ...)`` rows.

    Returns:
        Tensor: the rows of all ranks, in rank order.
    """
    if get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def gather_indexed(features, indices):
    """Gather per-sample features from all ranks, ordered by global index, duplicates dropped.

    Args:
        features (dict[str, Tensor]): tensors whose first dim runs over local samples.
        indices (Tensor): (N,) global sample index of each local sample (sampler padding may
            repeat samples; each index is kept once).

    Returns:
        tuple[dict[str, Tensor], Tensor]: gathered features and their sorted unique indices.
    """
    local = ({k: v.cpu() for k, v in features.items()}, indices.cpu())
    parts = all_gather_object(local) if get_world_size() > 1 else [local]
    all_indices = torch.cat([part[1] for part in parts])
    unique, first = first_occurrence(all_indices)
    gathered = {key: torch.cat([part[0][key] for part in parts])[first] for key in features}
    return gathered, unique


def first_occurrence(indices):
    """Sorted unique values of a 1-D index tensor and the position of each one's first copy.

    Args:
        indices (Tensor): ``(N,)`` integer indices, possibly repeated.

    Returns:
        tuple[Tensor, Tensor]: the sorted unique values ``(U,)`` and ``(U,)`` the position in
        ``indices`` of each value's first occurrence.
    """
    unique, inverse = torch.unique(indices, sorted=True, return_inverse=True)
    positions = torch.arange(indices.numel())
    first = torch.full((unique.numel(),), indices.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, positions, reduce='amin')
    return unique, first



@contextmanager
def owned_process_group():
    """Destroy, when the block ends normally, a default process group created inside it.

    The tools wrap their ``main()`` in it: left to interpreter exit, gloo's worker threads can
    be destroyed while still joinable and abort a rank after a successful run ("terminate
    called without an active exception"). A group that existed before the block (a caller
    running several tools in one process) is left alone.
    """
    existed = torch_dist.is_available() and torch_dist.is_initialized()
    yield
    if not existed and torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
