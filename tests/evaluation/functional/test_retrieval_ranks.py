"""Ground-truth ranks (the official evaluation) vs brute-force and official-style sort references."""
import numpy as np
import pytest
import torch

from mmdret.evaluation.functional import (TIE_RULES, best_caption_scores, ground_truth_ranks,
                                          ranking_inputs, recall_metrics)


def brute_force_rank(scores, positives, tie_rule):
    """Loop over candidates: negatives above the best positive, plus a share of tied ones."""
    ranks = []
    for q in range(scores.shape[0]):
        best = max(float(scores[q, c]) for c in range(scores.shape[1]) if positives[q, c])
        above = ties = 0
        for c in range(scores.shape[1]):
            if positives[q, c]:
                continue  # other positives never count
            if float(scores[q, c]) > best:
                above += 1
            elif float(scores[q, c]) == best:
                ties += 1
        # clip4clip's single rank is the first of the official tied positions
        ranks.append(above + {'pessimistic': ties, 'optimistic': 0, 'mean': ties / 2,
                              'clip4clip': 0}[tie_rule])
    return ranks


def official_sort_positions(scores):
    """Official compute_metrics: sort -x per row and list every position equal to the diagonal."""
    x = scores.numpy()
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, None]
    rows, cols = np.where(sx - d == 0)
    return [cols[rows == q] for q in range(x.shape[0])]


def per_positive_min_rank(scores, positives, tie_rule):
    """Multi-positive reference: rank each positive among the negatives alone, keep the best."""
    out = []
    for q in range(scores.shape[0]):
        negatives = scores[q][~positives[q]].tolist()
        candidates = []
        for p in scores[q][positives[q]].tolist():
            above = sum(n > p for n in negatives)
            ties = sum(n == p for n in negatives)
            candidates.append(above + {'pessimistic': ties, 'optimistic': 0,
                                       'mean': ties / 2, 'clip4clip': 0}[tie_rule])
        out.append(min(candidates))
    return out


def tied_scores(q=7, c=9, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (q, c), generator=gen).float() / 4  # many exact ties


def test_hand_example():
    scores = torch.tensor([[0.9, 0.5, 0.9, 0.1],    # positive 0 tied with one negative
                           [0.2, 0.8, 0.8, 0.8],    # positive 1 tied with two negatives
                           [0.3, 0.9, 0.1, 0.0],    # positive 2 below 0.3, 0.9
                           [0.1, 0.2, 0.3, 0.4]])   # positive 3 on top, no tie
    positives = torch.eye(4, dtype=torch.bool)
    expected = {'pessimistic': [1, 2, 2, 0], 'optimistic': [0, 0, 2, 0], 'mean': [0.5, 1, 2, 0],
                'clip4clip': [0, 0, 2, 0]}
    for rule in TIE_RULES:
        assert ground_truth_ranks(scores, positives, rule).tolist() == expected[rule]
    assert ground_truth_ranks(scores, positives).tolist() == expected['pessimistic']


@pytest.mark.parametrize('tie_rule', TIE_RULES)
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_brute_force_with_ties(tie_rule, seed):
    scores = tied_scores(seed=seed)
    gen = torch.Generator().manual_seed(seed + 10)
    positives = torch.zeros(7, 9, dtype=torch.bool)
    positives[torch.arange(7), torch.randint(0, 9, (7,), generator=gen)] = True
    ranks = ground_truth_ranks(scores, positives, tie_rule)
    assert ranks.shape == (7,)
    assert ranks.tolist() == brute_force_rank(scores, positives, tie_rule)


@pytest.mark.parametrize('seed', [0, 3])
def test_single_positive_vs_official_sort_positions(seed):
    """Official counts every tied position; optimistic/pessimistic/mean = min/max/mean of them."""
    scores = tied_scores(q=8, c=8, seed=seed)
    positives = torch.eye(8, dtype=torch.bool)
    positions = official_sort_positions(scores)
    assert sum(len(p) for p in positions) > 8  # the example really has ties
    assert ground_truth_ranks(scores, positives, 'optimistic').tolist() == \
        [float(p.min()) for p in positions]
    assert ground_truth_ranks(scores, positives, 'pessimistic').tolist() == \
        [float(p.max()) for p in positions]
    assert ground_truth_ranks(scores, positives, 'mean').tolist() == \
        [float(p.mean()) for p in positions]


@pytest.mark.parametrize('tie_rule', TIE_RULES)
def test_candidate_permutation_invariance(tie_rule):
    scores = tied_scores(q=6, c=10, seed=4)
    positives = torch.zeros(6, 10, dtype=torch.bool)
    positives[torch.arange(6), torch.tensor([0, 3, 3, 9, 5, 1])] = True
    positives[1, 7] = positives[4, 2] = True
    ranks = ground_truth_ranks(scores, positives, tie_rule)
    for seed in range(5):
        perm = torch.randperm(10, generator=torch.Generator().manual_seed(seed))
        permuted = ground_truth_ranks(scores[:, perm], positives[:, perm], tie_rule)
        assert torch.equal(permuted, ranks)


@pytest.mark.parametrize('tie_rule', TIE_RULES)
def test_multi_positive_best_rank_other_positives_never_count(tie_rule):
    # v2t with 3 captions per video: video 0 owns captions 0-2, video 1 owns captions 3-5.
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.95, 0.2, 0.8],
                           [0.3, 0.7, 0.7, 0.1, 0.2, 0.6]])
    positives = torch.zeros(2, 6, dtype=torch.bool)
    positives[0, :3] = positives[1, 3:] = True
    ranks = ground_truth_ranks(scores, positives, tie_rule)
    # video 0: best positive 0.9 is beaten by negative 0.95 only -> 1 (positive 0.8 ignored).
    # video 1: best positive 0.6 is beaten by negatives 0.7, 0.7 -> 2 (no ties).
    assert ranks.tolist() == [1.0, 2.0]
    assert ranks.tolist() == per_positive_min_rank(scores, positives, tie_rule)

    tied = torch.tensor([[0.5, 0.9, 0.9, 0.9, 0.1]])
    pos = torch.tensor([[False, True, True, False, False]])
    # The other positive tied at 0.9 never counts; only the negative at 0.9 does.
    expected = {'pessimistic': 1.0, 'optimistic': 0.0, 'mean': 0.5, 'clip4clip': 0.0}[tie_rule]
    assert ground_truth_ranks(tied, pos, tie_rule).tolist() == [expected]


@pytest.mark.parametrize('tie_rule', TIE_RULES)
def test_random_multi_positive_vs_references(tie_rule):
    scores = tied_scores(q=8, c=12, seed=5)
    gen = torch.Generator().manual_seed(6)
    positives = torch.rand(8, 12, generator=gen) < 0.3
    positives[torch.arange(8), torch.arange(8)] = True
    ranks = ground_truth_ranks(scores, positives, tie_rule).tolist()
    assert ranks == per_positive_min_rank(scores, positives, tie_rule)
    assert ranks == brute_force_rank(scores, positives, tie_rule)


@pytest.mark.parametrize('tie_rule', TIE_RULES)
def test_query_chunks_concatenate_to_full(tie_rule):
    scores = tied_scores(q=11, c=9, seed=7)
    positives = torch.zeros(11, 9, dtype=torch.bool)
    positives[torch.arange(11), torch.arange(11) % 9] = True
    full = ground_truth_ranks(scores, positives, tie_rule)
    chunked = torch.cat([ground_truth_ranks(scores[i:i + 3], positives[i:i + 3], tie_rule)
                         for i in range(0, 11, 3)])
    assert torch.equal(chunked, full)


def test_raises_without_positive_or_with_unknown_rule():
    scores = torch.rand(3, 4)
    positives = torch.eye(3, 4, dtype=torch.bool)
    positives[1] = False
    with pytest.raises(ValueError):
        ground_truth_ranks(scores, positives)
    with pytest.raises(ValueError):
        ground_truth_ranks(scores, torch.eye(3, 4, dtype=torch.bool), tie_rule='random')


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_scores_are_refused_naming_direction_and_count(value):
    scores = torch.rand(5, 4)
    scores[1, 2] = scores[3, 0] = value
    with pytest.raises(ValueError, match=r'^v2t: 2 of 5 queries have non-finite scores'):
        ground_truth_ranks(scores, torch.ones(5, 4, dtype=torch.bool), direction='v2t')


def test_best_caption_scores_hand_example():
    # 2 query videos, 5 captions of videos 3, 1, 3, 1, 2 (unsorted, rectangular).
    scores = torch.tensor([[0.1, 0.7, 0.4, 0.2, 0.3],
                           [0.9, 0.0, 0.5, 0.6, 0.8]])
    best, positives = best_caption_scores(scores, torch.tensor([1, 3]),
                                          torch.tensor([3, 1, 3, 1, 2]))
    # columns: videos 1, 2, 3
    assert torch.equal(best, torch.tensor([[0.7, 0.3, 0.4], [0.6, 0.8, 0.9]]))
    assert positives.tolist() == [[True, False, False], [False, False, True]]
    queries = dict(index=torch.tensor([1, 3]))
    candidates = dict(video_index=torch.tensor([3, 1, 3, 1, 2]))
    assert ground_truth_ranks(best, positives).tolist() == [0.0, 0.0]
    caption_scores, caption_positives = ranking_inputs('v2t', scores, queries, candidates,
                                                       'caption')
    # caption protocol: video 1's best caption 0.7 is first; video 3's 0.9 is first too
    assert ground_truth_ranks(caption_scores, caption_positives).tolist() == [0.0, 0.0]
    scores[0, 4] = 0.75  # video 2's caption now beats video 1's best: rank 1 in both
    best, _ = best_caption_scores(scores, torch.tensor([1, 3]), torch.tensor([3, 1, 3, 1, 2]))
    assert ground_truth_ranks(best, positives).tolist() == [1.0, 0.0]


def test_recall_metrics_hand_numbers():
    metrics = recall_metrics([0, 1, 4, 10])
    assert metrics == pytest.approx({'R1': 25.0, 'R5': 75.0, 'R10': 75.0, 'MdR': 3.5,
                                     'MnR': 4.75})
    metrics = recall_metrics(torch.tensor([0.0, 0.5, 49.0, 50.0, 2.0]), ks=(1, 50))
    assert metrics == pytest.approx({'R1': 40.0, 'R50': 80.0, 'MdR': 3.0, 'MnR': 21.3})
