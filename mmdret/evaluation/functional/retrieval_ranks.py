"""Ranks and recall metrics for retrieval, tie-explicit and independent of candidate order."""
import numpy as np
import torch

# (direction, query modality, candidate modality)
DIRECTIONS = (('t2v', 'text', 'video'), ('v2t', 'video', 'text'))
TIE_RULES = ('pessimistic', 'optimistic', 'mean', 'clip4clip')
# Weight of the negatives tied with the best positive in a query's single rank.
TIE_WEIGHTS = {'pessimistic': 1.0, 'optimistic': 0.0, 'mean': 0.5, 'clip4clip': 0.0}
V2T_PROTOCOLS = ('video_max', 'caption')


def positives_for(direction, queries, candidates):
    """(Q, C) bool: True where a candidate belongs to the query (texts carry ``video_index``).

    Args:
        direction (str): ``'t2v'`` (text queries, video candidates) or ``'v2t'``.
        queries (dict[str, Tensor]): query features with ``index`` (and ``video_index`` for
            texts).
        candidates (dict[str, Tensor]): candidate features, likewise.
    """
    if direction == 't2v':
        return queries['video_index'][:, None] == candidates['index'][None, :]
    return queries['index'][:, None] == candidates['video_index'][None, :]


def best_caption_scores(scores, query_videos, caption_videos):
    """Video-to-text scores of query videos against candidate *videos*, each candidate video
    scored by its best caption: ``S'[q, j] = max_{c : video(c) = j} S[q, c]``.

    This is the published multi-caption video-to-text protocol (CLIP4Clip's multi-sentence
    evaluation, inherited by DiffusionRet, X-Pool and DITS). There the (captions x videos)
    matrix ``A`` (video-to-text scores transposed) is regrouped per video into
    ``T[i, k, j] = A[k-th caption of video i, j]``, padded with -inf to
    (videos, max_captions, videos); ``tensor_video_to_text_sim`` takes
    ``M[j, i] = max_k T[i, k, j]`` and the rank of query video ``j`` is the position of
    ``M[j, j]`` in row ``j``: ``#{i != j : M[j, i] > M[j, j]}`` plus ties (see
    :func:`ground_truth_ranks`). ``S'`` is ``M`` restricted to this rank's query rows.

    Args:
        scores (Tensor): (Q, C) scores of query videos against captions.
        query_videos (Tensor): (Q,) video index of each query.
        caption_videos (Tensor): (C,) video index of each caption.

    Returns:
        tuple[Tensor, Tensor]: (Q, V) scores and (Q, V) positives, over the V distinct videos
        of ``caption_videos`` in increasing index order.
    """
    videos, column = torch.unique(caption_videos, sorted=True, return_inverse=True)
    column = column.to(scores.device)[None].expand_as(scores)
    best = scores.new_full((scores.shape[0], videos.numel()), float('-inf'))
    best.scatter_reduce_(1, column, scores, reduce='amax')  # NaN propagates: still refused
    return best, query_videos[:, None] == videos[None, :].to(query_videos.device)


def ranking_inputs(direction, scores, queries, candidates, v2t_protocol='video_max'):
    """The (scores, positives) that a direction's ranks are computed from.

    Args:
        direction (str): ``'t2v'`` or ``'v2t'``.
        scores (Tensor): (Q, C) scores of the queries against all candidates.
        queries (dict[str, Tensor]): query features (``index``, texts also ``video_index``).
        candidates (dict[str, Tensor]): candidate features, likewise.
        v2t_protocol (str): how a video query is ranked against multi-caption candidates:
            ``'video_max'`` (default, published): among the videos, each scored by its best
            caption, see :func:`best_caption_scores`; ``'caption'``: its best caption among the
            captions of all other videos. Both agree when every video has one caption.
    """
    check_v2t_protocol(v2t_protocol)
    if direction == 'v2t' and v2t_protocol == 'video_max':
        return best_caption_scores(scores, queries['index'], candidates['video_index'])
    return scores, positives_for(direction, queries, candidates)


def non_finite_rows(scores):
    """(Q,) bool: queries with a NaN or Inf score.

    Args:
        scores (Tensor): (Q, C) query-candidate scores.

    Returns:
        Tensor: (Q,) bool, True for a query with any non-finite score.
    """
    return ~torch.isfinite(scores).all(dim=1)


def non_finite_scores_error(direction, num_bad, num_queries):
    """The error refusing to rank queries with non-finite scores.

    Args:
        direction (str): the direction, named in the message (``'t2v'``, ``'v2t'``).
        num_bad (int): queries with a NaN or Inf score.
        num_queries (int): all queries of the direction.

    Returns:
        ValueError: the error to raise.
    """
    return ValueError(f'{direction}: {num_bad} of {num_queries} queries have non-finite scores '
                      '(NaN/Inf); the model or its checkpoint is broken (such scores would tie '
                      'and rank every query first)')


def rank_counts(scores, positives, direction='retrieval'):
    """Negatives scoring above, and tied with, the best-scoring positive of each query.

    Args:
        scores (Tensor): (Q, C) query-candidate scores; NaN or Inf is an error.
        positives (Tensor): (Q, C) bool, True where the candidate is a ground truth of the query.
        direction (str): named in the error messages (``'t2v'``, ``'v2t'``).

    Returns:
        tuple[Tensor, Tensor]: (Q,) float64 counts ``above`` and ``tied``.
    """
    if not bool(positives.any(dim=1).all()):
        raise ValueError(f'{direction}: every query needs at least one positive candidate')
    num_bad = int(non_finite_rows(scores).sum())
    if num_bad:
        raise non_finite_scores_error(direction, num_bad, scores.shape[0])
    best = scores.masked_fill(~positives, float('-inf')).max(dim=1, keepdim=True).values
    negatives = ~positives
    above = ((scores > best) & negatives).sum(dim=1).double()
    tied = ((scores == best) & negatives).sum(dim=1).double()
    return above, tied


def ground_truth_ranks(scores, positives, tie_rule='pessimistic', direction='retrieval'):
    """0-based rank of the best-scoring positive of each query among its negatives.

    ``rank = #{negatives scoring above the best positive}`` plus, for ties with it, all of them
    (``'pessimistic'``, the default), none (``'optimistic'``) or half (``'mean'``). Other
    positives never count against a query (multi-caption video->text with
    ``v2t_protocol='caption'``: a video is retrieved at the best rank of any of its captions).
    The result does not depend on candidate order.

    ``'clip4clip'`` is the official counting of CLIP4Clip's and DiffusionRet's
    ``compute_metrics`` (``np.where(np.sort(-S) == -S[q, gt])``): a query whose ground truth
    ties with ``t`` negatives stands for the ``t + 1`` entries ``above, ..., above + t``, all of
    which enter R@K, MdR and MnR (see :class:`TextVideoRetrievalMetric`); its single rank here
    is the first of them (``above``). (The official multi-caption text-to-video ranks come from
    an argsort instead, whose order among exact ties is unspecified; without exact ties every
    rule gives the official figures.)

    Args:
        scores (Tensor): (Q, C) query-candidate scores; NaN or Inf is an error.
        positives (Tensor): (Q, C) bool, True where the candidate is a ground truth of the query.
        tie_rule (str): one of :data:`TIE_RULES`.
        direction (str): named in the error messages.

    Returns:
        Tensor: (Q,) float ranks.
    """
    check_tie_rule(tie_rule)
    above, tied = rank_counts(scores, positives, direction)
    return above + TIE_WEIGHTS[tie_rule] * tied


def check_tie_rule(tie_rule):
    """Refuse an unknown tie rule.

    Args:
        tie_rule (str): one of :data:`TIE_RULES`.

    Raises:
        ValueError: if ``tie_rule`` is not one of :data:`TIE_RULES`.
    """
    if tie_rule not in TIE_RULES:
        raise ValueError(f'tie_rule must be one of {TIE_RULES}, got {tie_rule!r}')


def check_v2t_protocol(v2t_protocol):
    """Refuse an unknown video-to-text protocol.

    Args:
        v2t_protocol (str): one of :data:`V2T_PROTOCOLS`.

    Raises:
        ValueError: if ``v2t_protocol`` is not one of :data:`V2T_PROTOCOLS`.
    """
    if v2t_protocol not in V2T_PROTOCOLS:
        raise ValueError(f'v2t_protocol must be one of {V2T_PROTOCOLS}, got {v2t_protocol!r}')


def recall_metrics(ranks, ks=(1, 5, 10)):
    """R@k (percent), MdR and MnR (1-based) from 0-based ranks.

    Args:
        ranks (array-like): 0-based ranks, one per query (or tied entry).
        ks (Sequence[int]): recall cut-offs. Defaults to (1, 5, 10).

    Returns:
        dict[str, float]: ``R<k>`` for each k (percent of ranks below k), ``MdR`` (median
        rank + 1) and ``MnR`` (mean rank + 1).
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    metrics = {f'R{k}': float(100.0 * np.mean(ranks < k)) for k in ks}
    metrics['MdR'] = float(np.median(ranks) + 1)
    metrics['MnR'] = float(np.mean(ranks) + 1)
    return metrics
