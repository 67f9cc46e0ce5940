"""TextVideoRetrievalInferencer on a tiny generated video folder and random tiny models: the
mmengine BaseInferencer interface, the gallery cache (reuse, incremental update, foreign model,
resume, safe format, wrong shapes, FAISS index next to it), unreadable videos and what the decoder
printed, non-UTF-8 file names, short videos, input errors, and the shortlist's equality with
exhaustive scoring; the coarse search by embeddings (torch chunks and FAISS agree) on a
synthetic gallery, and its benchmark."""
import argparse
import json
import os
import pickle
import shutil
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer

from tiny_search_config import tiny_config
from tool_loader import load_tool
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.apis import text_video_retrieval_inferencer as inferencer_module
from mmdret.apis.text_video_retrieval_inferencer import fill_frames, resolve_model_config
from mmdret.apis.video_gallery_index import GalleryCacheError
from mmdret.registry import INFERENCERS, MODELS
from mmdret.utils import register_all_modules

RERANKER = dict(type='DiffusionReranker',
                t2v_denoiser=dict(type='TextToVideoDenoiser', width=64),
                v2t_denoiser=dict(type='VideoToTextDenoiser', width=64),
                scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
                num_inference_steps=3, topk=4)
TINY_MODEL = """dict(
    encoder=dict(arch='tiny-64', temporal_layers=1, temporal_heads=2, motion_stem_offset=None),
    similarity_head=dict(embed_dim=64, hidden_dim=128){reranker})"""
QUERY = 'a red ball rolls to the left'


def write_model(folder, name, seed, stage2=False):
    """A tiny config (derived from the demo config) and a random checkpoint for it."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f'{name}.py'
    config.write_text(tiny_config(model=TINY_MODEL.format(
        reranker=f',\n    reranker={RERANKER!r}' if stage2 else '')))
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = folder / f'{name}.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return str(config), str(checkpoint)


def write_frames(path, frames, fps=2):
    """An MJPG .avi of RGB frames: every frame coded alone, so equal frames decode equal."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (width, height))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


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
    return TextVideoRetrievalInferencer(config, weights=weights, gallery_batch_size=4,
                                        show_progress=False, **kwargs)


def copy_folder(assets, tmp_path):
    folder = tmp_path / 'videos'
    shutil.copytree(assets['videos'], folder)
    return folder


def test_registered_base_inferencer_and_search(assets):
    assert INFERENCERS.get('TextVideoRetrievalInferencer') is TextVideoRetrievalInferencer
    inferencer = make(assets)
    assert isinstance(inferencer, BaseInferencer)
    assert inferencer.device.type == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert len(inferencer.gallery_paths) == assets['num_videos'] == 8
    assert inferencer.num_encoded == 8 and not inferencer.failed_videos
    [hits] = inferencer(QUERY, topk=5)
    assert len(hits) == 5 and [hit['rank'] for hit in hits] == [1, 2, 3, 4, 5]
    scores = [hit['score'] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(os.path.isfile(hit['video']) for hit in hits)
    queries = [QUERY, 'a big blue square moves up', 'a wedge']
    # Query batches of 1 and of 3 give the same hits: a query's scores do not depend on the
    # others in its batch.
    assert inferencer(queries, topk=3, batch_size=1) == inferencer(queries, topk=3, batch_size=3)
    assert inferencer(queries, topk=3)[0] == inferencer(QUERY, topk=3)[0]
    assert len(inferencer('anything', topk=100)[0]) == 8
    [sample] = inferencer(QUERY, topk=3, return_datasamples=True)
    assert sample.query == QUERY and sample.pred_index.shape == (3, )
    assert sample.videos == [hit['video'] for hit in hits[:3]]
    torch.testing.assert_close(sample.pred_score, torch.tensor(scores[:3]))
    texts = inferencer.video_to_text(hits[0]['video'], ['a red ball', 'a blue box', 'x'], topk=2)
    assert [t['rank'] for t in texts] == [1, 2] and texts[0]['score'] >= texts[1]['score']


def test_model_by_config_name():
    cfg = resolve_model_config('xpool_tiny_1xb64-demo')
    assert cfg.filename.endswith('configs/dits/xpool_tiny_1xb64-demo.py')
    with pytest.raises(FileNotFoundError, match="'no_such_config'.*none match"):
        resolve_model_config('no_such_config')


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


def test_cache_holds_tensors_and_json_only(assets, tmp_path):
    cache = tmp_path / 'gallery.pth'
    make(assets, prototype_cache=str(cache))
    content = torch.load(cache, weights_only=True)
    meta = json.loads(content['meta'])
    assert meta['format'] == 'mmdret-video-gallery' and len(meta['paths']) == 8
    assert set(content['features']) == {'frames', 'frame_mask', 'frame_weights'}
    assert all(value.shape[0] == 8 for value in content['features'].values())


class Payload:
    """Unpickling runs ``open(marker, 'w')``: a cache reader that unpickles runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_crafted_cache_is_refused_and_runs_no_code(assets, tmp_path):
    marker = tmp_path / 'payload_ran'
    for name, write in (('pickle.pth', lambda f: pickle.dump({'x': Payload(str(marker))}, f)),
                        ('torch.pth', lambda f: torch.save({'x': Payload(str(marker))}, f))):
        cache = tmp_path / name
        with open(cache, 'wb') as f:
            write(f)
        with pytest.raises(GalleryCacheError, match=str(cache)):
            make(assets, prototype_cache=str(cache))
        assert not marker.exists()
        assert cache.read_bytes()  # refused, not overwritten
    foreign = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}}, foreign)
    with pytest.raises(GalleryCacheError, match='not a gallery cache'):
        make(assets, prototype_cache=str(foreign))


def edit_cache(cache, edit):
    content = torch.load(cache, weights_only=True)
    edit(content)
    torch.save(content, cache)


@pytest.mark.parametrize('where', ['rows', 'trailing'])
def test_cache_entry_of_wrong_shape_rebuilds(assets, tmp_path, where):
    cache = str(tmp_path / 'gallery.pth')
    reference = make(assets, prototype_cache=cache)(QUERY, topk=8)

    def wrong_rows(content):  # one row fewer than there are paths
        content['features']['frames'] = content['features']['frames'][:-1]

    def wrong_trailing(content):  # every row a frame short: consistent, but not the model's
        content['features'] = {key: value[:, :-1] for key, value in
                               content['features'].items()}

    edit_cache(cache, wrong_rows if where == 'rows' else wrong_trailing)
    rebuilt = make(assets, prototype_cache=cache)
    assert 'wrong shape' in rebuilt.rebuild_reason and rebuilt.num_encoded >= 7
    assert rebuilt(QUERY, topk=8) == reference
    assert make(assets, prototype_cache=cache).rebuild_reason is None


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


def test_unreadable_video_skipped_with_the_decoder_output(assets, tmp_path, capfd):
    folder = copy_folder(assets, tmp_path)
    good = sorted(folder.iterdir())[0]
    (folder / 'x.mp4').write_bytes(os.urandom(2048))
    (folder / 'truncated.mp4').write_bytes(good.read_bytes()[:len(good.read_bytes()) // 3])
    capfd.readouterr()
    with pytest.warns(UserWarning, match='could not be decoded') as record:
        inferencer = make(assets, prototype=str(folder))
    native = capfd.readouterr().err
    assert sorted(inferencer.failed_videos) == [str(folder / 'truncated.mp4'),
                                                str(folder / 'x.mp4')]
    [message] = [str(w.message) for w in record if 'could not be decoded' in str(w.message)]
    assert str(folder / 'x.mp4') in message and 'decoder:' in message
    # What decord/FFmpeg printed went into the warning, not onto the terminal.
    assert 'moov atom not found' in message and 'moov atom' not in native
    assert len(inferencer.gallery_paths) == 8
    assert len(inferencer(QUERY, topk=3)[0]) == 3
    with pytest.raises(ValueError, match='cannot use'):
        inferencer.video_to_text(folder / 'x.mp4', ['a red ball'])


def test_file_name_not_utf8_is_indexed(assets, tmp_path):
    folder = copy_folder(assets, tmp_path)
    source = sorted(folder.iterdir())[0]
    odd = os.path.join(os.fsencode(folder), b'clip_\xff\xfe.mp4')
    shutil.copy(os.fsencode(source), odd)
    cache = str(tmp_path / 'gallery.pth')
    inferencer = make(assets, prototype=str(folder), prototype_cache=cache)
    name = os.fsdecode(odd)
    assert name in inferencer.gallery_paths and not inferencer.failed_videos
    assert len(inferencer.gallery_paths) == 9
    again = make(assets, prototype=str(folder), prototype_cache=cache)
    assert again.num_encoded == 0 and name in again.gallery_paths
    row = inferencer.gallery_paths.index(name)
    same = inferencer.gallery_paths.index(str(source))
    torch.testing.assert_close(inferencer.gallery['frames'][row],
                               inferencer.gallery['frames'][same])


def test_fill_frames_repeats_in_order():
    video = torch.arange(4).view(4, 1, 1, 1).expand(4, 3, 2, 2).clone()
    inputs = fill_frames(dict(video=video, video_mask=torch.tensor([1, 1, 0, 0])))
    assert inputs['video'][:, 0, 0, 0].tolist() == [0, 0, 1, 1]
    assert inputs['video_mask'].tolist() == [1, 1, 1, 1]
    full = dict(video=video, video_mask=torch.ones(4, dtype=torch.long))
    assert fill_frames(full)['video'] is video


def test_one_frame_video_scores_as_its_frame_held(assets, tmp_path):
    """A 1-frame video is scored as that frame shown for the model's whole frame count (built
    here by hand from the decoded frame): no padded frame lets it outrank longer videos, as
    the padded version does."""
    rng = np.random.default_rng(0)
    folder = copy_folder(assets, tmp_path)
    write_frames(folder / 'one_frame.avi', [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)])
    inferencer = make(assets, prototype=str(folder))
    row = inferencer.gallery_paths.index(str(folder / 'one_frame.avi'))
    queries = [QUERY, 'a big blue square moves up', 'a white disc goes down', 'a wedge']
    text = inferencer.encode_texts(queries)
    item = inferencer.pipeline(dict(filename=str(folder / 'one_frame.avi'), text_idx=[0],
                                    video_idx=0, texts=['a video']))
    assert item['inputs']['video_mask'].tolist() == [1, 0, 0, 0]

    def score(video, mask):
        inputs = dict(item['inputs'], video=video, video_mask=mask)
        data = inferencer.model.data_preprocessor(
            pseudo_collate([dict(inputs=inputs, data_samples=item['data_samples'])]))
        with torch.no_grad():
            features = inferencer.model.extract_video_feat(data['inputs'])
            return inferencer.model.score('t2v', text, features)[:, 0]

    frame = item['inputs']['video'][:1]
    held = score(frame.expand(4, -1, -1, -1).clone(), torch.ones(4, dtype=torch.long))
    padded = score(item['inputs']['video'], item['inputs']['video_mask'])
    with torch.no_grad():
        searched = inferencer.model.score(
            't2v', text, {k: v[row:row + 1] for k, v in inferencer.gallery.items()})[:, 0]
    torch.testing.assert_close(searched, held, atol=1e-5, rtol=1e-5)
    assert (padded > held + 1e-4).any()  # what the repetition prevents


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
    for topk in (0, -1):
        with pytest.raises(ValueError, match='topk must be a positive int'):
            inferencer(QUERY, topk=topk)
    with pytest.raises(ValueError):
        inferencer.video_to_text(inferencer.gallery_paths[0], [])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        TextVideoRetrievalInferencer(assets['stage1'][0], weights=str(tmp_path / 'missing.pth'))


def test_non_finite_weights_are_refused(assets, tmp_path):
    config, weights = assets['stage1']
    state_dict = torch.load(weights, weights_only=True)['state_dict']
    key = next(k for k, v in state_dict.items() if v.is_floating_point())
    state_dict[key] = torch.full_like(state_dict[key], float('nan'))
    broken = tmp_path / 'nan.pth'
    torch.save({'state_dict': state_dict}, broken)
    with pytest.raises(ValueError, match=f'{broken}: non-finite weights'):
        TextVideoRetrievalInferencer(config, weights=str(broken))


def test_prototype_list_and_dataset(assets):
    files = sorted(str(path) for path in assets['videos'].iterdir())[:3]
    assert make(assets, prototype=files).gallery_paths == files
    dataset = dict(type='MSRVTTRetrievalDataset', data_root=str(assets['root'] / 'demo'),
                   ann_file='annotations/MSRVTT_JSFUSION_test.csv',
                   data_prefix=dict(video='videos'), test_mode=True)
    assert len(make(assets, prototype=dataset).gallery_paths) == 8


def test_shortlist_equals_exhaustive(assets):
    queries = [QUERY, 'a big blue square moves up', 'a wedge']
    # Stage 1: the chunked coarse score is the model's score, so any shortlist gives the
    # exhaustive scores of the exhaustive top videos.
    inferencer = make(assets, coarse_chunk_size=3)
    exhaustive = inferencer.score_texts(queries)
    for shortlist in (8, 5, 2):
        for (index, scores), (all_index, all_scores) in zip(
                inferencer.score_texts(queries, shortlist=shortlist), exhaustive):
            assert torch.equal(index, all_index[:shortlist])
            torch.testing.assert_close(scores, all_scores[:shortlist])
    # Stage 2: the re-ranking depends on the candidate set; a shortlist covering the gallery
    # is the exhaustive search.
    stage2 = make(assets, 'stage2')
    assert stage2.model.reranker is not None
    for (index, scores), (all_index, all_scores) in zip(
            stage2.score_texts(queries, shortlist=8), stage2.score_texts(queries)):
        assert torch.equal(index.sort().values, torch.arange(8))
        torch.testing.assert_close(scores[index.argsort()], all_scores[all_index.argsort()])
    assert len(stage2.video_to_text(stage2.gallery_paths[0], queries, topk=3)) == 3


def test_faiss_index_saved_next_to_the_cache(assets, tmp_path, monkeypatch):
    pytest.importorskip('faiss')
    cache = str(tmp_path / 'gallery.pth')
    first = make(assets, prototype_cache=cache, coarse_score='embedding', shortlist=4)
    hits = first(QUERY, topk=4)
    assert os.path.isfile(f'{cache}.faiss') and os.path.isfile(f'{cache}.faiss.json')

    def no_embedding(self):
        raise AssertionError('the saved index should have been read')

    monkeypatch.setattr(TextVideoRetrievalInferencer, 'gallery_embedding', no_embedding)
    again = make(assets, prototype_cache=cache, coarse_score='embedding', shortlist=4)
    assert again(QUERY, topk=4) == hits
    monkeypatch.undo()
    files = sorted(str(path) for path in assets['videos'].iterdir())[:5]
    smaller = make(assets, prototype=files, prototype_cache=cache, coarse_score='embedding')
    assert smaller.coarse_index().ntotal == 5  # another gallery: a new index


def test_visualize_calls_the_search_pictures(assets, tmp_path):
    inferencer = make(assets)
    queries = [QUERY, 'a big blue square moves up']
    results = inferencer(queries, topk=3, show_dir=str(tmp_path / 'sheets'),
                         html_file=str(tmp_path / 'page.html'), show_frames=2)
    sheets = sorted((tmp_path / 'sheets').iterdir())
    assert len(sheets) == 2 and all(sheet.suffix == '.png' for sheet in sheets)
    assert inferencer.visualization[:2] == [str(sheet) for sheet in sheets]
    page = (tmp_path / 'page.html').read_text()
    assert all(query in page for query in queries)
    assert all(os.path.basename(hit['video']) in page for hits in results for hit in hits)


# -- several processes index one gallery -------------------------------------------------------
def index_worker(rank, world_size, port, config, weights, folder, cache):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        inferencer = TextVideoRetrievalInferencer(config, weights=weights, prototype=folder,
                                                  prototype_cache=cache, gallery_batch_size=2,
                                                  flush_interval=2, show_progress=False)
        gathered = [None] * world_size
        dist.all_gather_object(gathered, inferencer.num_encoded)
        assert gathered == [8] * world_size
    finally:
        dist.barrier()
        dist.destroy_process_group()


def test_two_processes_build_the_one_process_index(assets, tmp_path):
    import socket

    import torch.multiprocessing as mp
    one = tmp_path / 'one.pth'
    two = tmp_path / 'two.pth'
    make(assets, prototype_cache=str(one))
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    mp.spawn(index_worker, args=(2, port, *assets['stage1'], str(assets['videos']), str(two)),
             nprocs=2, join=True)
    single = torch.load(one, weights_only=True)
    merged = torch.load(two, weights_only=True)
    assert json.loads(merged['meta'])['paths'] == json.loads(single['meta'])['paths']
    for key, value in single['features'].items():
        torch.testing.assert_close(merged['features'][key], value, atol=1e-6, rtol=1e-6)


# -- coarse search by embeddings (torch / FAISS) on a synthetic gallery ----------------------
BENCHMARK = load_tool('analysis', 'benchmark_retrieval_index.py')
QUERIES = BENCHMARK.QUERIES


def synthetic_inferencer(size, **kwargs):
    torch.manual_seed(0)  # the same random stage-1 model every time
    inferencer = TextVideoRetrievalInferencer(BENCHMARK.tiny_config(1), show_progress=False,
                                              device='cpu', **kwargs)
    BENCHMARK.synthetic_gallery([inferencer], size)
    return inferencer


def test_embedding_shortlist_covering_the_gallery_is_exhaustive():
    inferencer = synthetic_inferencer(60, coarse_score='embedding', coarse_backend='torch')
    text = inferencer.encode_texts(QUERIES)
    coarse = inferencer.model.embed('text', text) @ inferencer.coarse_index().t()
    assert coarse.shape == (len(QUERIES), 60)
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
    with torch.no_grad():
        exact = (chunked.model.embed('text', text)
                 @ chunked.model.embed('video', chunked.gallery).t())
    for shortlist in (1, 10, 100, 1000):  # 1000: clamped to the 700 videos
        chunked_top = chunked.coarse_topk(text, shortlist)
        assert torch.equal(indexed.coarse_topk(text, shortlist), chunked_top)
        if shortlist <= 100:  # the full order of 700 random scores may hold near-ties
            assert torch.equal(chunked_top, exact.topk(shortlist, dim=1).indices)
    assert chunked(QUERIES, topk=5, shortlist=30) == indexed(QUERIES, topk=5, shortlist=30)
    BENCHMARK.synthetic_gallery([indexed], 50, seed=1)
    assert indexed.coarse_index().ntotal == 50  # a new gallery gets a new index


def test_coarse_options_are_checked(monkeypatch):
    check = TextVideoRetrievalInferencer._check_coarse
    assert check('score', 'auto') == ('score', 'torch')
    assert check('embedding', 'torch') == ('embedding', 'torch')
    for score, backend in (('score', 'faiss'), ('dot', 'torch'), ('embedding', 'gpu')):
        with pytest.raises(ValueError):
            check(score, backend)
    monkeypatch.setattr(inferencer_module, 'faiss_available', lambda: False)
    assert check('embedding', 'auto') == ('embedding', 'torch')
    with pytest.raises(ImportError, match=r'mmdret\[faiss\]'):
        check('embedding', 'faiss')


def test_benchmark_compares_every_search():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        rows = BENCHMARK.run([40], num_queries=2, shortlist=10, stage=1, repeats=1)
    names = [row['search'] for row in rows]
    assert names == [name for name, *_ in BENCHMARK.searches(10)]
    assert len(names) == 4 if inferencer_module.faiss_available() else 3
    assert rows[0]['top10_agree'] == 1.0 and all(row['qps'] > 0 for row in rows)
    table = BENCHMARK.markdown(rows, argparse.Namespace(stage=1, queries=2, shortlist=10,
                                                        repeats=1))
    assert all(f'| 40 | {rows[0]["gallery_mib"]:.1f} | {name} |' in table for name in names)
