"""Refuse NaN / Inf in weights: a model with non-finite weights scores every candidate alike,
which the ranking would otherwise turn into perfect-looking metrics."""
import torch

MAX_LISTED = 5


def non_finite_tensors(named_tensors):
    """Names of the floating-point tensors holding NaN or Inf, with their counts.

    Args:
        named_tensors (Iterable[tuple[str, Tensor]]): e.g. ``state_dict.items()``; entries that
            are not floating-point tensors are ignored.

    Returns:
        list[tuple[str, int, int]]: (name, non-finite values, all values), in input order.
    """
    found = []
    for name, tensor in named_tensors:
        if torch.is_tensor(tensor) and tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor.detach())).sum())
            if bad:
                found.append((name, bad, tensor.numel()))
    return found


def describe_non_finite(found, total):
    """``'a (3 of 8 values), b (...) and N more'`` for :func:`non_finite_tensors` output.

    Args:
        found (list[tuple[str, int, int]]): :func:`non_finite_tensors` output; the first five
            are listed.
        total (int): the number of tensors checked.

    Returns:
        str: ``'<len(found)> of <total> tensors hold NaN/Inf: ...'``.
    """
    listed = ', '.join(f'{name} ({bad} of {numel} values)'
                       for name, bad, numel in found[:MAX_LISTED])
    more = len(found) - MAX_LISTED
    return (f'{len(found)} of {total} tensors hold NaN/Inf: {listed}'
            + (f' and {more} more' if more > 0 else ''))


def assert_finite_state_dict(state_dict, source):
    """Raise if any floating-point tensor of ``state_dict`` holds NaN or Inf.

    Args:
        state_dict (Mapping[str, Tensor]): weights (a checkpoint's ``state_dict`` or
            ``model.state_dict()``).
        source (str): where they come from (a checkpoint path, "the model"), for the message.

    Raises:
        ValueError: naming ``source``, how many tensors are affected and the first of them.
    """
    found = non_finite_tensors(state_dict.items())
    if found:
        raise ValueError(f'{source}: non-finite weights, refusing to use them; '
                         f'{describe_non_finite(found, len(state_dict))}. The run that wrote '
                         'them diverged: retrain from an earlier checkpoint or with a lower lr.')
