"""Protocol of the score post-processors and their cross-rank statistics."""
import torch
from mmengine.dist import all_gather_object, all_reduce, get_rank, get_world_size

from mmdret.utils.distributed import first_occurrence


class ColumnLogSumExp:
    """Running ``logsumexp`` over rows of (Q, C) chunks, one value per column, in float64.

    ``sync()`` combines the partial values of all ranks (max, then sum of the shifted
    exponentials), so the result equals the single-process value over the union of the rows.
    """

    def __init__(self):
        self.value = None
        self.num_rows = 0

    def update(self, logits):
        """Add the rows of a chunk to the running per-column logsumexp.

        Args:
            logits (Tensor): ``(Q, C)`` chunk of rows.
        """
        if logits.dim() != 2:
            raise ValueError(f'expected (queries, candidates) scores, got shape '
                             f'{tuple(logits.shape)}')
        if self.value is None:
            self.value = torch.full((logits.shape[1],), float('-inf'), dtype=torch.float64,
                                    device=logits.device)
        elif self.value.shape[0] != logits.shape[1]:
            raise ValueError(f'chunk has {logits.shape[1]} candidates, earlier chunks '
                             f'{self.value.shape[0]}')
        if logits.shape[0]:
            self.value = torch.logaddexp(self.value, torch.logsumexp(logits.double(), dim=0))
        self.num_rows += logits.shape[0]

    def sync(self, num_candidates=None):
        """All-reduce across ranks (a no-op in one process); every rank must call it.

        Args:
            num_candidates (int, optional): C, needed when this rank fitted no rows. Defaults to
                None.
        """
        if self.value is None:
            if num_candidates is None:
                raise ValueError('no rows were fitted and the candidate count is unknown')
            self.value = torch.full((num_candidates,), float('-inf'), dtype=torch.float64)
        if get_world_size() > 1:
            peak = self.value.clone()
            all_reduce(peak, op='max')
            shift = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
            total = torch.exp(self.value - shift)
            all_reduce(total, op='sum')
            self.value = torch.log(total) + shift
            self.num_rows = sum_over_ranks(self.num_rows)
        return self.value


def sum_over_ranks(value):
    """The sum of an integer over all ranks.

    Args:
        value (int): this rank's count.
    """
    total = torch.tensor(value, dtype=torch.long)
    all_reduce(total)
    return int(total)


def owned_rows(indices):
    """Rows this rank counts when fitting: each global index once over all ranks.

    Sampler padding repeats samples, within a rank and across ranks; a statistic summed over
    ranks would count those twice. A row is owned by the first rank that holds its index, at its
    first position there.

    Args:
        indices (Tensor): (N,) global indices of the local rows.

    Returns:
        Tensor: (N,) bool mask.
    """
    indices = indices.cpu()
    keep = torch.zeros(indices.numel(), dtype=torch.bool)
    _, first = first_occurrence(indices)
    keep[first] = True
    if get_world_size() > 1:
        parts = all_gather_object(indices)
        earlier = parts[:get_rank()]
        if earlier:
            keep &= ~torch.isin(indices, torch.cat(earlier))
    return keep


class BaseScorePostProcessor:
    """Post-processing of retrieval scores, fitted on column statistics, applied per chunk.

    Scores are (Q, C): query rows against *all* candidates of a direction. The protocol keeps
    memory at one chunk of rows plus O(C) statistics:

    1. ``fit(score_chunks)`` -- ``reset()``, ``partial_fit(chunk)`` for every chunk of the fitting
       rows, then ``sync()``, which all-reduces the statistics over ranks (every rank calls it,
       also with no rows). The fitting rows are the test queries themselves
       (``fit_on = 'queries'``) or a query bank (``fit_on = 'query_bank'``); each row must be fed
       by exactly one rank (see :func:`owned_rows`).
    2. ``__call__(scores)`` -- the processed scores of a chunk of test queries, same shape.

    Only the order of candidates within a query row is meaningful afterwards.
    """
    fit_on = 'queries'

    def reset(self):
        raise NotImplementedError

    def partial_fit(self, scores):
        """Accumulate the statistics of a chunk of fitting rows.

        Args:
            scores (Tensor): ``(Q_i, C)`` scores of the chunk.
        """
        raise NotImplementedError

    def sync(self, num_candidates=None):
        """Combine the statistics of all ranks (every rank calls it).

        Args:
            num_candidates (int, optional): C, needed when this rank fitted no rows. Defaults to
                None.
        """
        raise NotImplementedError

    def fit(self, score_chunks, num_candidates=None):
        """Fit on an iterable of (Q_i, C) score chunks (all rows of this rank), then sync.

        Args:
            score_chunks (Iterable[Tensor]): ``(Q_i, C)`` score chunks of this rank's fitting rows.
            num_candidates (int, optional): C, needed when this rank has no rows. Defaults to None.
        """
        self.reset()
        for scores in score_chunks:
            self.partial_fit(scores)
        self.sync(num_candidates)
        return self

    def __call__(self, scores):
        raise NotImplementedError

    @staticmethod
    def _check_fitted(statistic, scores, name):
        if statistic is None:
            raise RuntimeError(f'{name} is used before fit()')
        if scores.dim() != 2 or scores.shape[1] != statistic.shape[0]:
            raise ValueError(f'{name} was fitted on {statistic.shape[0]} candidates, got scores '
                             f'of shape {tuple(scores.shape)}')
