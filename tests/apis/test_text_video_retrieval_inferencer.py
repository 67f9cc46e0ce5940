"""TextVideoRetrievalInferencer on a tiny generated video folder and a random tiny model: the
gallery cache (reuse, incremental update, foreign model, resume), unreadable videos, input
errors, and the shortlist's equality with exhaustive scoring, for stage 1 and stage 2; the coarse
search by pooled embeddings (torch chunks and FAISS agree) on a synthetic gallery, and its
benchmark."""
import argparse
import os
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from tool_loader import load_tool
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.apis import text_video_retrieval_inferencer as inferencer_module
from mmdret.apis.text_video_retrieval_inferencer import pooled_embedding
from mmdret.registry import INFERENCERS, MODELS
from mmdret.utils import register_all_modules

ROOT = Path(__file__).parents[2]
BASE_CONFIG = ROOT / 'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py'
RERANKER = dict(type='DiffusionReranker',
                t2v_denoiser=dict(type='TextToVideoDenoiser', width=64),
                v2t_denoiser=dict(type='VideoToTextDenoiser', width=64),
                scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
                num_inference_steps=3, topk=4)
TINY_CONFIG = f"""_base_ = [{str(BASE_CONFIG)!r}]
model = dict(
    encoder=dict(arch='tiny-64', temporal_layers=1, temporal_heads=2),
    similarity_head=dict(embed_dim=64, hidden_dim=128){{reranker}})
test_pipeline = [
    dict(type='LoadVideoFrames', max_frames=4, sample_fps=1),
    dict(type='Resize', scale=(-1, 32), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='TokenizeCaptions', max_words=16),
    dict(type='PackRetrievalInputs', max_frames=4),
]
"""


def write_model(folder, name, seed, stage2=False):
    """A tiny config (derived from the demo config) and a random checkpoint for it."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f'{name}.py'
    config.write_text(TINY_CONFIG.format(
        reranker=f',\n    reranker={RERANKER!r}' if stage2 else ''))
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = folder / f'{name}.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return str(config), str(checkpoint)


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    make_demo_dataset = load_tool('data', 'make_demo_dataset.py').make_demo_dataset
    root = tmp_path_factory.mktemp('retrieval')
    make_demo_dataset(root / 'demo', seed=0, train_per_combination=1, captions_per_video=1,
                      test_groups=2, size=32, fps=2, num_frames=8)
    test_ids = [line.split(',')[2] for line in
                (root / 'demo/annotations/MSRVTT_JSFUSION_test.csv').read_text().splitlines()[1:]]
    videos = root / 'videos'
    videos.mkdir()
    for video_id in test_ids:
        shutil.copy(root / 'demo/videos' / f'{video_id}.mp4', videos / f'{video_id}.mp4')
    return dict(root=root, videos=videos, num_videos=len(test_ids),
                stage1=write_model(root / 'models', 'stage1', seed=0),
                other=write_model(root / 'models', 'other', seed=1),
                stage2=write_model(root / 'models', 'stage2', seed=0, stage2=True))


def make(assets, which='stage1', **kwargs):
    config, weights = assets[which]
    kwargs.setdefault('prototype', str(assets['videos']))
    return TextVideoRetrievalInferencer(config, weights=weights, batch_size=4,
                                        show_progress=False, **kwargs)


def copy_folder(assets, tmp_path):
    folder = tmp_path / 'videos'
    shutil.copytree(assets['videos'], folder)
    return folder


def test_registered_and_search(assets):
    assert INFERENCERS.get('TextVideoRetrievalInferencer') is TextVideoRetrievalInferencer
    inferencer = make(assets)
    assert len(inferencer.gallery_paths) == assets['num_videos'] == 8
    assert inferencer.num_encoded == 8 and not inferencer.failed_videos
    hits = inferencer('a red ball rolls to the left', topk=5)
    assert len(hits) == 5 and [hit['rank'] for hit in hits] == [1, 2, 3, 4, 5]
    scores = [hit['score'] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(os.path.isfile(hit['video']) for hit in hits)
    batch = inferencer(['a red ball rolls to the left', 'a big blue square moves up'], topk=3)
    assert len(batch) == 2 and all(len(hits) == 3 for hits in batch)
    assert batch[0] == inferencer('a red ball rolls to the left', topk=3)
    assert len(inferencer('anything', topk=100)) == 8
    texts = inferencer.video_to_text(hits[0]['video'], ['a red ball', 'a blue box', 'x'], topk=2)
    assert [t['rank'] for t in texts] == [1, 2] and texts[0]['score'] >= texts[1]['score']


def test_cache_reuse_update_and_foreign_model(assets, tmp_path):
    folder = copy_folder(assets, tmp_path)
    cache = str(tmp_path / 'gallery.pth')
    first = make(assets, prototype=str(folder), prototype_cache=cache)
    assert first.num_encoded == 8 and os.path.isfile(cache)
    again = make(assets, prototype=str(folder), prototype_cache=cache)
    assert again.num_encoded == 0 and again.num_reused == 8 and again.rebuild_reason is None
    query = 'a small green triangle moves right'
    assert again(query, topk=8) == first(query, topk=8)

    touched = sorted(folder.iterdir())[0]
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (sorted(folder.iterdir())[1]).unlink()
    updated = make(assets, prototype=str(folder), prototype_cache=cache)
    assert updated.num_encoded == 1 and updated.num_dropped == 1
    assert len(updated.gallery_paths) == 7

    foreign = make(assets, 'other', prototype=str(folder), prototype_cache=cache)
    assert foreign.num_encoded == 7 and 'another model' in foreign.rebuild_reason


def test_interrupted_build_resumes(assets, tmp_path, monkeypatch):
    cache = str(tmp_path / 'gallery.pth')
    calls = []
    original = TextVideoRetrievalInferencer._encode_videos

    def failing(self, paths):
        calls.append(paths)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, paths)

    monkeypatch.setattr(TextVideoRetrievalInferencer, '_encode_videos', failing)
    with pytest.raises(KeyboardInterrupt):
        make(assets, prototype_cache=cache, flush_interval=1)
    monkeypatch.setattr(TextVideoRetrievalInferencer, '_encode_videos', original)
    resumed = make(assets, prototype_cache=cache)
    assert resumed.num_reused == 4 and resumed.num_encoded == 4


def test_unreadable_video_skipped(assets, tmp_path):
    folder = copy_folder(assets, tmp_path)
    (folder / 'x.mp4').write_bytes(os.urandom(2048))
    with pytest.warns(UserWarning, match='could not be decoded'):
        inferencer = make(assets, prototype=str(folder))
    assert list(inferencer.failed_videos) == [str(folder / 'x.mp4')]
    assert len(inferencer.gallery_paths) == 8
    assert len(inferencer('a red ball', topk=3)) == 3
    with pytest.raises(ValueError, match='cannot use'):
        inferencer.video_to_text(folder / 'x.mp4', ['a red ball'])


def test_input_errors(assets, tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no video files'):
        make(assets, prototype=str(tmp_path / 'empty'))
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad/x.mp4').write_bytes(b'not a video')
    with pytest.warns(UserWarning), pytest.raises(ValueError, match='could be decoded'):
        make(assets, prototype=str(tmp_path / 'bad'))
    inferencer = make(assets)
    for query in ('', '   ', []):
        with pytest.raises(ValueError):
            inferencer(query)
    with pytest.raises(ValueError):
        inferencer.video_to_text(inferencer.gallery_paths[0], [])


def test_prototype_list_and_dataset(assets):
    files = sorted(str(path) for path in assets['videos'].iterdir())[:3]
    assert make(assets, prototype=files).gallery_paths == files
    dataset = dict(type='MSRVTTRetrievalDataset', data_root=str(assets['root'] / 'demo'),
                   ann_file='annotations/MSRVTT_JSFUSION_test.csv',
                   data_prefix=dict(video='videos'), test_mode=True)
    assert len(make(assets, prototype=dataset).gallery_paths) == 8


@pytest.mark.parametrize('which', ['stage1', 'stage2'])
def test_shortlist_equals_exhaustive(assets, which):
    inferencer = make(assets, which)
    queries = ['a red ball rolls to the left', 'a big blue square moves up', 'a wedge']
    text = inferencer.encode_texts(queries)
    with torch.no_grad():
        exhaustive = inferencer.model.score('t2v', text, inferencer.gallery)
    for shortlist in (8, 4):  # the whole gallery; reranker.topk (stage 2)
        results = inferencer.score_texts(queries, shortlist=shortlist)
        for q, (index, scores) in enumerate(results):
            assert len(index) == shortlist
            torch.testing.assert_close(scores, exhaustive[q, index], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(scores, exhaustive[q].sort(descending=True).values[
                :shortlist], atol=1e-5, rtol=1e-5)
    hits = inferencer(queries[0], topk=8, shortlist=8)
    assert [h['video'] for h in hits][:1] == [inferencer(queries[0], topk=1)[0]['video']]
    if which == 'stage2':
        assert inferencer.model.reranker is not None
        texts = inferencer.video_to_text(inferencer.gallery_paths[0], queries, topk=3)
        assert len(texts) == 3


# -- coarse search by pooled embeddings (torch / FAISS) on a synthetic gallery ----------------
BENCHMARK = load_tool('analysis', 'benchmark_retrieval_index.py')
QUERIES = BENCHMARK.QUERIES


def synthetic_inferencer(size, **kwargs):
    torch.manual_seed(0)  # the same random stage-1 model every time
    inferencer = TextVideoRetrievalInferencer(BENCHMARK.tiny_config(1), show_progress=False,
                                              **kwargs)
    BENCHMARK.synthetic_gallery([inferencer], size)
    return inferencer


def test_pooled_embedding_lower_bounds_the_stage1_similarity():
    inferencer = synthetic_inferencer(60, coarse_score='embedding', coarse_backend='torch')
    text = inferencer.encode_texts(QUERIES)
    with torch.no_grad():
        similarity = inferencer.model.similarity_head.similarity(text, inferencer.gallery)
        pooled = pooled_embedding(text['tokens'], text['token_weights'])
    coarse = pooled @ inferencer.coarse_index().t()
    assert coarse.shape == (len(QUERIES), 60)
    assert (coarse <= similarity + 1e-6).all() and (coarse < similarity - 1e-3).any()
    # A shortlist covering the gallery scores every video as the exhaustive search does.
    for (index, scores), (all_index, all_scores) in zip(
            inferencer.score_texts(QUERIES, shortlist=60), inferencer.score_texts(QUERIES)):
        assert torch.equal(index.sort().values, torch.arange(60))
        torch.testing.assert_close(scores[index.argsort()], all_scores[all_index.argsort()])


def test_faiss_and_torch_coarse_search_agree():
    pytest.importorskip('faiss')
    chunked = synthetic_inferencer(700, coarse_score='embedding', coarse_backend='torch',
                                   coarse_chunk_size=64)
    indexed = synthetic_inferencer(700, coarse_score='embedding', coarse_backend='faiss')
    assert synthetic_inferencer(5, coarse_score='embedding').coarse_backend == 'faiss'  # auto
    text = chunked.encode_texts(QUERIES)
    gallery = chunked.gallery
    with torch.no_grad():
        exact = (pooled_embedding(text['tokens'], text['token_weights'])
                 @ pooled_embedding(gallery['frames'], gallery['frame_weights']).t())
    for shortlist in (1, 10, 100, 1000):  # 1000: clamped to the 700 videos
        chunked_top = chunked.coarse_topk(text, shortlist)
        assert torch.equal(indexed.coarse_topk(text, shortlist), chunked_top)
        if shortlist <= 100:  # the full order of 700 random scores may hold near-ties
            assert torch.equal(chunked_top, exact.topk(shortlist, dim=1).indices)
    assert chunked(QUERIES, topk=5, shortlist=30) == indexed(QUERIES, topk=5, shortlist=30)
    # A new gallery gets a new index.
    BENCHMARK.synthetic_gallery([indexed], 50, seed=1)
    assert indexed.coarse_index().ntotal == 50


def test_coarse_options_are_checked(monkeypatch):
    check = TextVideoRetrievalInferencer._check_coarse
    assert check('similarity', 'auto') == ('similarity', 'torch')
    assert check('embedding', 'torch') == ('embedding', 'torch')
    for score, backend in (('similarity', 'faiss'), ('dot', 'torch'), ('embedding', 'gpu')):
        with pytest.raises(ValueError):
            check(score, backend)
    monkeypatch.setattr(inferencer_module, 'faiss_available', lambda: False)
    assert check('embedding', 'auto') == ('embedding', 'torch')
    with pytest.raises(ImportError, match=r'mmdret\[faiss\]'):
        check('embedding', 'faiss')


def test_benchmark_compares_every_search():
    rows = BENCHMARK.run([40], num_queries=2, shortlist=10, stage=1, repeats=1)
    names = [row['search'] for row in rows]
    assert names == [name for name, *_ in BENCHMARK.searches(10)]
    assert len(names) == 4 if inferencer_module.faiss_available() else 3
    assert rows[0]['top10_agree'] == 1.0 and all(row['qps'] > 0 for row in rows)
    table = BENCHMARK.markdown(rows, argparse.Namespace(stage=1, queries=2, shortlist=10,
                                                        repeats=1))
    assert all(f'| 40 | {rows[0]["gallery_mib"]:.1f} | {name} |' in table for name in names)
