"""Post-processing inside RetrievalEvaluation.rank_queries: disabled -> identical ranks, DSL and
QB-Norm -> the ranks of the dense post-processed matrix, in one and in two (gloo) processes."""
import logging
from types import SimpleNamespace

import pytest
import torch

from mmdret.engine.runner import retrieval_loop
from mmdret.engine.runner.retrieval_loop import RetrievalEvaluation
from mmdret.evaluation.functional import ground_truth_ranks
from mmdret.evaluation.post_processors import ScorePostProcessing
from mmdret.utils import register_all_modules
from gloo_processes import run_two_processes

register_all_modules()


def CaptionEvaluation(**kwargs):
    """The loop's evaluation with the dense references' video-to-text protocol (a video's
    best caption among all captions)."""
    return RetrievalEvaluation(v2t_protocol='caption', **kwargs)

# 9 captions of 4 videos (multi-caption), dot-product "model".
VIDEO_OF_TEXT = [0, 0, 1, 1, 1, 2, 3, 3, 3]
NUM_VIDEOS = 4


class DotModel:

    def score(self, direction, queries, candidates):
        return queries['emb'] @ candidates['emb'].t()


def make_features(seed=0):
    gen = torch.Generator().manual_seed(seed)
    video_emb = torch.randn(NUM_VIDEOS, 5, generator=gen)
    text_emb = video_emb[VIDEO_OF_TEXT] * 0.3 + torch.randn(len(VIDEO_OF_TEXT), 5, generator=gen)
    # unit vectors: cosine scores, the range DSL's temperature 100 is meant for
    video_emb, text_emb = (torch.nn.functional.normalize(x, dim=1) for x in (video_emb, text_emb))
    text = dict(index=torch.arange(len(VIDEO_OF_TEXT)), video_index=torch.tensor(VIDEO_OF_TEXT),
                emb=text_emb)
    video = dict(index=torch.arange(NUM_VIDEOS), emb=video_emb,
                 corrupt=torch.zeros(NUM_VIDEOS, dtype=torch.bool))
    return dict(text=text, video=video)


def rows(features, index):
    return {key: value[index] for key, value in features.items()}


def dense_ranks(features, transform=None):
    """{(direction, query): rank} from the full matrices (t2v: texts x videos)."""
    text, video = features['text'], features['video']
    sims = {'t2v': text['emb'] @ video['emb'].t(), 'v2t': video['emb'] @ text['emb'].t()}
    positives = text['video_index'][:, None] == video['index'][None]
    positives = {'t2v': positives, 'v2t': positives.t()}
    out = {}
    for direction, matrix in sims.items():
        if transform is not None and transform.get(direction) is not None:
            matrix = transform[direction](matrix)
        ranks = ground_truth_ranks(matrix.float(), positives[direction])
        out.update({(direction, i): float(r) for i, r in enumerate(ranks)})
    return out


def loop_ranks(evaluation, local):
    runner = SimpleNamespace(logger=logging.getLogger('test_post_processing'))
    records, _ = evaluation.rank_queries(runner, DotModel(), local)
    return {(r['direction'], r['query_idx']): r['rank'] for r in records}


def dsl(matrix, temperature=100.0):
    return matrix.double() * torch.softmax(temperature * matrix.double(), dim=0)


def test_disabled_leaves_ranks_unchanged():
    features = make_features()
    default = loop_ranks(CaptionEvaluation(query_chunk_size=4), features)
    disabled = loop_ranks(CaptionEvaluation(query_chunk_size=4, post_processor=None), features)
    per_direction_off = loop_ranks(
        CaptionEvaluation(query_chunk_size=4, post_processor=dict(t2v=None, v2t=None)),
        features)
    assert default == disabled == per_direction_off == dense_ranks(features)


def test_dual_softmax_matches_dense():
    features = make_features(1)
    got = loop_ranks(CaptionEvaluation(query_chunk_size=2,
                                         post_processor=dict(type='DualSoftmax')), features)
    assert got == dense_ranks(features, dict(t2v=dsl, v2t=dsl))
    only_t2v = loop_ranks(CaptionEvaluation(
        query_chunk_size=3, post_processor=dict(t2v=dict(type='DualSoftmax', temperature=5.0))),
        features)
    assert only_t2v == dense_ranks(features, dict(t2v=lambda m: dsl(m, 5.0)))


def test_query_bank_norm_matches_dense(monkeypatch):
    features = make_features(2)
    bank = make_features(3)  # "training" queries: their texts (t2v) and videos (v2t)
    # The loop extracts the bank from its dataloader through the retriever contract.
    monkeypatch.setattr(retrieval_loop, 'extract_features', lambda *args: bank)

    def is_norm(bank_queries):
        def transform(matrix):  # IS for every row (mode='is'), log space is rank-equivalent
            normaliser = (2.0 * (bank_queries @ candidates_of(matrix).t()).double()).exp().sum(0)
            return (2.0 * matrix.double()).exp() / normaliser
        return transform

    def candidates_of(matrix):
        return features['video']['emb'] if matrix.shape[1] == NUM_VIDEOS else \
            features['text']['emb']

    got = loop_ranks(CaptionEvaluation(
        query_chunk_size=4,
        post_processor=dict(type='QueryBankNorm', beta=2.0, mode='is',
                            query_bank=dict(dataloader=torch.utils.data.DataLoader([])))),
        features)
    assert got == dense_ranks(features, dict(t2v=is_norm(bank['text']['emb']),
                                             v2t=is_norm(bank['video']['emb'])))


class BankModel(DotModel):
    """Returns the features of ``bank`` rows named by the batch (one text per video item)."""

    def __init__(self, bank):
        self.bank = bank

    def data_preprocessor(self, data_batch, training):
        return data_batch

    def __call__(self, inputs, mode):
        assert mode == 'tensor'
        idx = inputs['idx']
        return dict(text=rows(self.bank['text'], idx), video=rows(self.bank['video'], idx))


def test_query_bank_is_extracted_from_its_dataloader(monkeypatch):
    features = make_features(6)
    bank = make_features(7)
    bank = dict(text=rows(bank['text'], torch.arange(NUM_VIDEOS)), video=bank['video'])
    # a padded sampler repeats item 0; the bank must count it once
    items = [dict(inputs=dict(idx=i)) for i in [0, 1, 2, 3, 0]]
    loader = torch.utils.data.DataLoader(items, batch_size=2)
    cfg = dict(type='QueryBankNorm', beta=2.0, mode='is', query_bank=dict(dataloader=loader))
    evaluation = CaptionEvaluation(query_chunk_size=3, post_processor=cfg)
    runner = SimpleNamespace(logger=logging.getLogger('test_post_processing'))
    extracted = []
    real_extract = retrieval_loop.extract_features
    monkeypatch.setattr(retrieval_loop, 'extract_features',
                        lambda *args: extracted.append(real_extract(*args)) or extracted[-1])
    records, _ = evaluation.rank_queries(runner, BankModel(bank), features)
    got = {(r['direction'], r['query_idx']): r['rank'] for r in records}

    def is_norm(bank_queries, candidates):
        def transform(matrix):
            normaliser = torch.logsumexp(2.0 * (bank_queries @ candidates.t()).double(), 0)
            return 2.0 * matrix.double() - normaliser
        return transform

    assert got == dense_ranks(features, dict(
        t2v=is_norm(bank['text']['emb'], features['video']['emb']),
        v2t=is_norm(bank['video']['emb'], features['text']['emb'])))
    [extracted] = extracted  # once for both directions
    assert extracted['text']['index'].tolist() == [0, 1, 2, 3]


def test_bad_config_fails_early():
    with pytest.raises(ValueError, match="'t2v'/'v2t'"):
        CaptionEvaluation(post_processor=dict(t2x=None))
    with pytest.raises(KeyError):
        CaptionEvaluation(post_processor=dict(type='NoSuchProcessor'))
    with pytest.raises(ValueError, match='needs query_bank=dict'):
        CaptionEvaluation(post_processor=dict(type='QueryBankNorm'))


# -- two processes ---------------------------------------------------------------------------
def shards(features):
    """Shards as a padded DistributedSampler gives them: rank 1 repeats one text of rank 0 (the
    best-scoring one for video 0, so counting it twice would shift the DSL normaliser) and video 0.
    """
    dup = int((features['text']['emb'] @ features['video']['emb'][0]).argmax())
    others = [i for i in range(len(VIDEO_OF_TEXT)) if i != dup]
    return dict(text=([dup] + others[0::2], others[1::2] + [dup]), video=([0, 2], [1, 3, 0])), dup


def _rank_results(rank):
    register_all_modules()
    features = make_features(4)
    split, _ = shards(features)
    local = {m: rows(features[m], torch.tensor(split[m][rank])) for m in features}
    got = loop_ranks(CaptionEvaluation(query_chunk_size=2,
                                         post_processor=dict(type='DualSoftmax')), local)
    # The fitted statistics themselves (padding duplicates must count once).
    dsl_fit = ScorePostProcessing(dict(type='DualSoftmax'), 2).fitted(
        't2v', DotModel(), local['text'], features['video'])
    bank = make_features(5)
    qbn = ScorePostProcessing(dict(type='QueryBankNorm', beta=3.0,
                                   query_bank=dict(dataloader=None)), 2)
    [bank_key] = qbn.bank_dataloaders()
    bank_split, _ = shards(bank)
    local_bank = {m: rows(bank[m], torch.tensor(bank_split[m][rank])) for m in bank}
    qbn_fit = qbn.fitted('t2v', DotModel(), None, features['video'],
                         banks={bank_key: local_bank})
    return dict(ranks=got, dsl=dsl_fit.log_normaliser, qbn=qbn_fit.log_normaliser,
                active=qbn_fit.active)


def test_two_processes_equal_one(tmp_path):
    results = run_two_processes(_rank_results, tmp_path, timeout=60)
    features, bank = make_features(4), make_features(5)
    dsl_ranks = dense_ranks(features, dict(t2v=dsl, v2t=dsl))
    assert {**results[1]['ranks'], **results[0]['ranks']} == dsl_ranks
    assert loop_ranks(CaptionEvaluation(query_chunk_size=2,
                                          post_processor=dict(type='DualSoftmax')),
                      features) == dsl_ranks
    t2v = features['text']['emb'] @ features['video']['emb'].t()
    bank_t2v = bank['text']['emb'] @ features['video']['emb'].t()
    dsl_lse = torch.logsumexp(100.0 * t2v.double(), 0)
    # Counting the padding duplicate (text 0) twice would be visible at this tolerance.
    _, dup = shards(features)
    twice = torch.logsumexp(100.0 * t2v[[dup] + list(range(len(t2v)))].double(), 0)
    assert (twice - dsl_lse).abs().max() > 1e-2
    for result in results:  # every rank holds the global statistics
        torch.testing.assert_close(result['dsl'], dsl_lse, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(result['qbn'], torch.logsumexp(3.0 * bank_t2v.double(), 0),
                                   rtol=1e-5, atol=1e-5)
        expected = torch.zeros(NUM_VIDEOS, dtype=torch.bool)
        expected[bank_t2v.argmax(1)] = True
        assert torch.equal(result['active'], expected)
