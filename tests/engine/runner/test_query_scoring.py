"""The shared-similarity scoring (stage-1 similarity computed once for both directions) against
the per-direction ``model.score``, in one process and, through ``RetrievalEvaluation``, in two
gloo processes with padded shards.

Scores are compared to float rounding (1e-6): the per-direction path multiplies matrices of
other shapes (all texts x a video chunk), whose last bits may differ; the ranks must be equal.
"""
import logging
from types import SimpleNamespace

import pytest
import torch

from mmdret.engine.runner.query_scoring import QueryChunkScorer
from mmdret.engine.runner.retrieval_loop import RetrievalEvaluation
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules
from gloo_processes import run_two_processes

WIDTH, WORDS, FRAMES = 16, 5, 3
NUM_TEXTS, NUM_VIDEOS = 11, 7  # several captions per video, chunks that do not divide


def build_model(stage):
    register_all_modules()
    torch.manual_seed(0)
    cfg = dict(type='DiffusionRet',
               encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=1,
                            temporal_heads=2),
               similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH,
                                    hidden_dim=2 * WIDTH))
    if stage == 2:
        cfg['reranker'] = dict(
            type='DiffusionReranker',
            t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
            v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
            scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
            num_inference_steps=5, topk=4)
    model = MODELS.build(cfg)
    if model.reranker is not None:
        model.reranker.init_weights()
    return model.eval()


def make_features(model):
    """Features of ``NUM_TEXTS`` captions (text i describes video i % NUM_VIDEOS) and
    ``NUM_VIDEOS`` videos, through ``extract_text_feat`` / ``extract_video_feat``."""
    gen = torch.Generator().manual_seed(1)
    text_mask = (torch.arange(WORDS)[None] < torch.randint(1, WORDS + 1, (NUM_TEXTS, 1),
                                                           generator=gen)).long()
    frame_mask = (torch.arange(FRAMES)[None] < torch.randint(1, FRAMES + 1, (NUM_VIDEOS, 1),
                                                             generator=gen)).long()
    video_of_text = torch.arange(NUM_TEXTS) % NUM_VIDEOS
    text_samples = [SimpleNamespace(metainfo=dict(video_idx=int(v), text_idx=[i]))
                    for i, v in enumerate(video_of_text)]
    video_samples = [SimpleNamespace(metainfo=dict(video_idx=i)) for i in range(NUM_VIDEOS)]
    with torch.no_grad():
        text = model.extract_text_feat(dict(
            text_tokens=torch.randn(NUM_TEXTS, WORDS, WIDTH, generator=gen),
            text_mask=text_mask, text_eot=torch.randn(NUM_TEXTS, WIDTH, generator=gen)),
            text_samples)
        video = model.extract_video_feat(dict(
            video_frames=torch.randn(NUM_VIDEOS, FRAMES, WIDTH, generator=gen),
            video_mask=frame_mask), video_samples)
    return dict(text=text, video=video)


class CountingSimilarity:
    """Counts the token-wise similarity entries the head computes (texts x videos)."""

    def __init__(self, head):
        self.head, self.entries = head, 0
        self.similarity = head.similarity

    def __enter__(self):
        def counted(text, video):
            self.entries += text['tokens'].shape[0] * video['frames'].shape[0]
            return self.similarity(text, video)

        self.head.similarity = counted
        return self

    def __exit__(self, *exc):
        del self.head.similarity


def per_direction_scores(model, features, direction, chunk):
    query, candidate = ('text', 'video') if direction == 't2v' else ('video', 'text')
    total = features[query]['index'].numel()
    with torch.no_grad():
        return torch.cat([model.score(direction, {k: v[start:start + chunk] for k, v in
                                                  features[query].items()},
                                      features[candidate])
                          for start in range(0, total, chunk)])


@pytest.mark.parametrize('stage', [1, 2])
@pytest.mark.parametrize('chunk', [3, 32])
def test_shared_similarity_equals_per_direction_and_computes_it_once(stage, chunk):
    model = build_model(stage)
    features = make_features(model)
    scorer = QueryChunkScorer(model, features, features, chunk, show_progress=False)
    with CountingSimilarity(model.similarity_head) as counter:
        shared = {direction: torch.cat([scores for _, scores in scorer.chunks(direction)])
                  for direction in ('t2v', 'v2t')}
    assert counter.entries == NUM_TEXTS * NUM_VIDEOS  # once, not once per direction
    for direction, scores in shared.items():
        expected = per_direction_scores(model, features, direction, chunk)
        assert scores.shape == expected.shape
        torch.testing.assert_close(scores, expected, rtol=0, atol=1e-6)
        assert torch.equal(scores.argsort(dim=1), expected.argsort(dim=1)), direction
    if stage == 2:  # the re-ranking changed the stage-1 scores
        assert not torch.equal(shared['t2v'], model.similarity_head.similarity(
            features['text'], features['video']))


def test_per_direction_fallbacks_score_twice():
    model = build_model(2)
    features = make_features(model)
    for scorer in (QueryChunkScorer(model, features, features, 4, share_similarity=False,
                                    show_progress=False),
                   QueryChunkScorer(SimpleNamespace(score=model.score), features, features, 4,
                                    show_progress=False)):
        with CountingSimilarity(model.similarity_head) as counter:
            for direction in ('t2v', 'v2t'):
                for _ in scorer.chunks(direction):
                    pass
        assert counter.entries == 2 * NUM_TEXTS * NUM_VIDEOS


def test_video_to_text_first_scores_per_direction():
    model = build_model(2)
    features = make_features(model)
    scorer = QueryChunkScorer(model, features, features, 4, show_progress=False)
    scores = torch.cat([s for _, s in scorer.chunks('v2t')])
    torch.testing.assert_close(scores, per_direction_scores(model, features, 'v2t', 4),
                               rtol=0, atol=1e-6)


def test_progress_bar_counts_chunks_per_direction(capfd):
    model = build_model(1)
    features = make_features(model)
    scorer = QueryChunkScorer(model, features, features, 4)
    for direction, total in (('t2v', NUM_TEXTS), ('v2t', NUM_VIDEOS)):
        for _ in scorer.chunks(direction):
            pass
        chunks = -(-total // 4)
        assert f'] {chunks}/{chunks},' in capfd.readouterr().out


def loop_scores(model, local, share_similarity):
    """Per-(direction, query) score rows and the records of ``RetrievalEvaluation``."""
    runner = SimpleNamespace(logger=logging.getLogger('test_query_scoring'))
    rows = {}

    def on_chunk(direction, queries, candidates, scores, ranks):
        for index, row in zip(queries['index'].tolist(), scores):
            rows[(direction, index)] = row.clone()

    evaluation = RetrievalEvaluation(query_chunk_size=3, share_similarity=share_similarity)
    records, _ = evaluation.rank_queries(runner, model, local, on_chunk=on_chunk)
    return rows, records


# Padded shards as a DistributedSampler gives them: rank 1 repeats text 0 and video 0.
SHARDS = dict(text=([0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 0]), video=([0, 2, 4, 6], [1, 3, 5, 0]))


def _rank_scores(rank):
    model = build_model(2)
    features = make_features(model)
    local = {m: {k: v[torch.tensor(SHARDS[m][rank])] for k, v in features[m].items()}
             for m in features}
    return loop_scores(model, local, share_similarity=True)


def test_two_processes_shared_equal_one_process_per_direction(tmp_path):
    parts = run_two_processes(_rank_scores, tmp_path)
    model = build_model(2)
    features = make_features(model)
    one_rows, one_records = loop_scores(model, features, share_similarity=False)
    shared_rows, shared_records = loop_scores(model, features, share_similarity=True)
    two_rows = {**parts[0][0], **parts[1][0]}
    assert len(parts[0][0]) + len(parts[1][0]) == len(one_rows) == NUM_TEXTS + NUM_VIDEOS
    assert one_rows.keys() == two_rows.keys() == shared_rows.keys()
    for key, row in one_rows.items():
        torch.testing.assert_close(shared_rows[key], row, rtol=0, atol=1e-6)
        # Two processes score the same chunks of the same shapes as one shared process.
        assert torch.equal(two_rows[key], shared_rows[key]), key
    key = lambda r: (r['direction'], r['query_idx'])  # noqa: E731
    two_records = parts[0][1] + parts[1][1]
    assert sorted(two_records, key=key) == sorted(one_records, key=key)
    assert sorted(shared_records, key=key) == sorted(one_records, key=key)
