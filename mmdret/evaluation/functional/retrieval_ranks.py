"""Ranks and recall metrics for retrieval, tie-explicit and independent of candidate order."""
import numpy as np

TIE_RULES = ('pessimistic', 'optimistic', 'mean')


def ground_truth_ranks(scores, positives, tie_rule='pessimistic'):
    """0-based rank of the best-scoring positive of each query among its negatives.

    ``rank = #{negatives scoring above the best positive}`` plus, for ties with it, all of them
    (``'pessimistic'``, the default), none (``'optimistic'``) or half (``'mean'``). Other
    positives never count against a query (multi-caption video->text: a video is retrieved at the
    best rank of any of its captions). The result does not depend on candidate order.

    Args:
        scores (Tensor): (Q, C) query-candidate scores.
        positives (Tensor): (Q, C) bool, True where the candidate is a ground truth of the query.
        tie_rule (str): one of ``'pessimistic'``, ``'optimistic'``, ``'mean'``.

    Returns:
        Tensor: (Q,) float ranks.
    """
    if tie_rule not in TIE_RULES:
        raise ValueError(f'tie_rule must be one of {TIE_RULES}, got {tie_rule!r}')
    if not bool(positives.any(dim=1).all()):
        raise ValueError('every query needs at least one positive candidate')
    best = scores.masked_fill(~positives, float('-inf')).max(dim=1, keepdim=True).values
    negatives = ~positives
    above = ((scores > best) & negatives).sum(dim=1).double()
    ties = ((scores == best) & negatives).sum(dim=1).double()
    return above + {'pessimistic': 1.0, 'optimistic': 0.0, 'mean': 0.5}[tie_rule] * ties


def recall_metrics(ranks, ks=(1, 5, 10)):
    """R@k (percent), MdR and MnR (1-based) from 0-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    metrics = {f'R{k}': float(100.0 * np.mean(ranks < k)) for k in ks}
    metrics['MdR'] = float(np.median(ranks) + 1)
    metrics['MnR'] = float(np.mean(ranks) + 1)
    return metrics
