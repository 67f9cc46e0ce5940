"""TextVideoRetrievalInferencer on a tiny generated video folder and a random tiny model: the
gallery cache (reuse, incremental update, foreign model, resume), unreadable videos, input
errors, and the shortlist's equality with exhaustive scoring, for stage 1 and stage 2."""
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmdret.apis import TextVideoRetrievalInferencer
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


def load_tool(*parts):
    # tools/ is a scripts folder, not a package: import the file by path.
    path = ROOT.joinpath('tools', *parts)
    spec = importlib.util.spec_from_file_location(f'tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
