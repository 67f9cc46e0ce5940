"""The retrieval loop + metric against a numpy re-implementation of the official evaluation
(CLIP4Clip / DiffusionRet ``compute_metrics``, the multi-sentence reshape to (videos,
max_captions, videos) and ``tensor_video_to_text_sim``), on rectangular multi-caption inputs, in
one and in two (gloo) processes; and the refusal of non-finite scores."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmdret.engine.runner.retrieval_loop import RetrievalEvaluation
from mmdret.evaluation.metrics import TextVideoRetrievalMetric
from gloo_processes import run_two_processes

# 13 captions of 6 videos, grouped by video as the official reshape needs.
CAPTIONS_PER_VIDEO = [1, 3, 2, 4, 1, 2]
VIDEO_OF_TEXT = np.repeat(np.arange(len(CAPTIONS_PER_VIDEO)), CAPTIONS_PER_VIDEO)
KEYS = ('R1', 'R5', 'R10', 'MdR', 'MnR')


class DotModel:

    def score(self, direction, queries, candidates):
        return queries['emb'] @ candidates['emb'].t()


def make_features(seed, ties, captions_per_video=CAPTIONS_PER_VIDEO):
    """Dot-product features; ``ties``: small integer embeddings, so many scores tie exactly."""
    video_of_text = np.repeat(np.arange(len(captions_per_video)), captions_per_video)
    gen = torch.Generator().manual_seed(seed)
    num_videos, num_texts = len(captions_per_video), len(video_of_text)
    if ties:
        video = torch.randint(0, 2, (num_videos, 3), generator=gen).float()
        text = torch.randint(0, 2, (num_texts, 3), generator=gen).float()
    else:
        video = torch.randn(num_videos, 4, generator=gen)
        text = video[video_of_text] + 2 * torch.randn(num_texts, 4, generator=gen)
    return dict(text=dict(index=torch.arange(num_texts), emb=text,
                          video_index=torch.as_tensor(video_of_text)),
                video=dict(index=torch.arange(num_videos), emb=video,
                           corrupt=torch.zeros(num_videos, dtype=torch.bool)))


def loop_records(features, **kwargs):
    runner = SimpleNamespace(logger=logging.getLogger('test_protocols'))
    records, _ = RetrievalEvaluation(query_chunk_size=2, **kwargs).rank_queries(
        runner, DotModel(), features)
    return records


def loop_metrics(records):
    out = TextVideoRetrievalMetric().compute_metrics(records)
    return {direction: {key: out[f'{direction}_{key}'] for key in KEYS}
            for direction in ('t2v', 'v2t')}


# -- the official evaluation, in numpy -------------------------------------------------------
def official_compute_metrics(x):
    """Rows are queries, the ground truth on the diagonal; every tied position is an entry."""
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, np.newaxis]
    ind = np.where(sx - d == 0)[1]
    return dict(R1=float(np.sum(ind == 0)) * 100 / len(ind),
                R5=float(np.sum(ind < 5)) * 100 / len(ind),
                R10=float(np.sum(ind < 10)) * 100 / len(ind),
                MdR=float(np.median(ind) + 1), MnR=float(np.mean(ind) + 1))


def official_multi_sentence(sim, captions_per_video):
    """``sim`` (captions x videos) -> (videos, max_captions, videos) padded with -inf; t2v:
    each caption's rank of its video by double argsort, padding dropped; v2t: the max over a
    video's captions, transposed, then ``compute_metrics``."""
    cut = np.cumsum(captions_per_video)
    longest = max(captions_per_video)
    blocks = [np.concatenate([sim[s:e], np.full((longest - (e - s), sim.shape[1]), -np.inf)])
              for s, e in zip(np.concatenate([[0], cut[:-1]]), cut)]
    tensor = np.stack(blocks)
    stacked = tensor.transpose(1, 0, 2)
    second = np.argsort(np.argsort(-stacked, axis=-1, kind='stable'), axis=-1)
    ranks = np.diagonal(second, axis1=1, axis2=2).flatten()
    valid = ranks[np.isfinite(np.diagonal(tensor, axis1=0, axis2=2).flatten())]
    t2v = dict(R1=100 * np.mean(valid < 1), R5=100 * np.mean(valid < 5),
               R10=100 * np.mean(valid < 10), MdR=float(np.median(valid + 1)),
               MnR=float(np.mean(valid + 1)))
    v2t = official_compute_metrics(tensor.max(axis=1).T)
    return dict(t2v=t2v, v2t=v2t)


def official(features, captions_per_video=CAPTIONS_PER_VIDEO):
    sim = (features['text']['emb'] @ features['video']['emb'].t()).numpy().astype(np.float64)
    return official_multi_sentence(sim, captions_per_video)


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_video_max_with_clip4clip_ties_equals_official_v2t(seed):
    features = make_features(seed, ties=True)
    got = loop_metrics(loop_records(features, tie_rule='clip4clip'))
    want = official(features)
    assert got['v2t'] == pytest.approx(want['v2t'], abs=1e-9)


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('tie_rule', ['pessimistic', 'optimistic', 'mean', 'clip4clip'])
def test_without_ties_every_rule_equals_official_both_directions(seed, tie_rule):
    features = make_features(seed, ties=False)
    got = loop_metrics(loop_records(features, tie_rule=tie_rule))
    want = official(features)
    for direction in ('t2v', 'v2t'):
        assert got[direction] == pytest.approx(want[direction], abs=1e-9)


def test_video_max_is_the_default_and_differs_from_caption_protocol():
    # Video 0 query: its caption scores 0.5; video 1's four captions score 0.9, 0.8, 0.7, 0.6.
    # video_max ranks video 0 second of 2 videos (rank 1); the caption protocol puts its
    # caption 5th of 5 captions (rank 4): R@1 and R@5 would differ on a real multi-caption set.
    video = dict(index=torch.arange(2), emb=torch.eye(2), corrupt=torch.zeros(2, dtype=bool))
    text = dict(index=torch.arange(5), video_index=torch.tensor([0, 1, 1, 1, 1]),
                emb=torch.tensor([[0.5, 0.0], [0.9, 1.0], [0.8, 1.0], [0.7, 1.0], [0.6, 1.0]]))
    features = dict(text=text, video=video)
    default = {(r['direction'], r['query_idx']): r['rank'] for r in loop_records(features)}
    caption = {(r['direction'], r['query_idx']): r['rank']
               for r in loop_records(features, v2t_protocol='caption')}
    assert default[('v2t', 0)] == 1.0 and caption[('v2t', 0)] == 4.0
    assert {k: v for k, v in default.items() if k != ('v2t', 0)} == \
        {k: v for k, v in caption.items() if k != ('v2t', 0)}


def test_single_caption_square_with_ties_clip4clip_equals_compute_metrics():
    features = make_features(5, ties=True, captions_per_video=[1] * 9)
    got = loop_metrics(loop_records(features, tie_rule='clip4clip'))
    sim = (features['text']['emb'] @ features['video']['emb'].t()).numpy()
    assert got['t2v'] == pytest.approx(official_compute_metrics(sim), abs=1e-9)
    assert got['v2t'] == pytest.approx(official_compute_metrics(sim.T), abs=1e-9)
    # The default rule is not the official one on this tied example.
    assert loop_metrics(loop_records(features))['t2v'] != got['t2v']


def test_unknown_protocol_or_rule_is_an_error():
    with pytest.raises(ValueError, match="v2t_protocol must be one of .*'video_max', 'caption'"):
        RetrievalEvaluation(v2t_protocol='max')
    with pytest.raises(ValueError, match='tie_rule must be one of'):
        RetrievalEvaluation(tie_rule='official')


class NonFiniteModel(DotModel):
    """Scores ``value`` for the queries ``bad`` of one direction."""

    def __init__(self, direction, bad, value):
        self.direction, self.bad, self.value = direction, bad, value

    def score(self, direction, queries, candidates):
        scores = super().score(direction, queries, candidates)
        if direction == self.direction:
            rows = torch.isin(queries['index'], torch.tensor(self.bad))
            scores[rows, 0] = self.value
        return scores


@pytest.mark.parametrize('direction', ['t2v', 'v2t'])
@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_scores_are_refused_naming_direction_and_count(direction, value):
    features = make_features(0, ties=False)
    total = features['text' if direction == 't2v' else 'video']['index'].numel()
    runner = SimpleNamespace(logger=logging.getLogger('test_protocols'))
    for tie_rule in ('pessimistic', 'clip4clip'):
        evaluation = RetrievalEvaluation(query_chunk_size=2, tie_rule=tie_rule)
        # Queries 1 and 4 lie in different chunks: the count covers all of them.
        with pytest.raises(ValueError, match=rf'^{direction}: 2 of {total} queries have '
                                             r'non-finite scores \(NaN/Inf\)'):
            evaluation.rank_queries(runner, NonFiniteModel(direction, [1, 4], value), features)


# -- two processes ---------------------------------------------------------------------------
# Shards as a padded DistributedSampler gives them: rank 1 repeats text 0 and video 0.
SHARDS = dict(text=([0, 2, 4, 6, 8, 10, 12], [1, 3, 5, 7, 9, 11, 0]),
              video=([0, 2, 4], [1, 3, 5, 0]))


def _rank_records(rank):
    features = make_features(1, ties=True)
    local = {m: {k: v[torch.tensor(SHARDS[m][rank])] for k, v in features[m].items()}
             for m in features}
    return loop_records(local, tie_rule='clip4clip')


def test_two_processes_equal_one_and_score_each_query_once(tmp_path):
    two = [r for part in run_two_processes(_rank_records, tmp_path, timeout=60) for r in part]
    one = loop_records(make_features(1, ties=True), tie_rule='clip4clip')
    key = lambda r: (r['direction'], r['query_idx'])  # noqa: E731
    # Each query once over both ranks (the padding copies are not scored again), same records.
    assert len(two) == len(one) == len(VIDEO_OF_TEXT) + len(CAPTIONS_PER_VIDEO)
    assert sorted(two, key=key) == sorted(one, key=key)
    assert loop_metrics(two) == loop_metrics(one)
    assert loop_metrics(one)['v2t'] == pytest.approx(official(make_features(1, ties=True))['v2t'])
