"""Speed and memory of video search with ``TextVideoRetrievalInferencer``.

Three measurements:

* ``--sizes``: queries/s of exhaustive ``model.score`` over the whole gallery vs a coarse
  shortlist then ``model.score`` on it, the coarse score being the model's score in gallery
  chunks or single-vector embeddings (torch, and FAISS when installed), on a synthetic in-memory
  gallery (random frame features of a tiny random DiffusionRet model: the search alone).
* ``--scale-sizes``: a synthetic gallery cache of that many entries written in the gallery
  cache format, then: loading it (memory-mapped), building and saving the FAISS index, reading
  it back, and the latency of one query batch (FAISS embedding shortlist, then ``model.score``
  of the stage-2 model on the shortlist), with the peak memory of each step. No query x gallery
  matrix is formed.
* ``--index-videos DIR``: videos/s of indexing real video files (decode + encode, no cache) with
  ``--index-config`` (changed by ``--cfg-options``, e.g. a local CLIP file for a zero-shot
  config), the model built before the clock starts; run it under ``torchrun --nproc_per_node N``
  to measure N processes.

::

    python tools/analysis/benchmark_retrieval_index.py [--sizes 1000 10000 100000]
        [--queries 8] [--shortlist 100] [--stage 1|2] [--scale-sizes 100000 1000000]
        [--index-videos DIR [--index-config CONFIG] [--cfg-options KEY=VALUE ...]]
        [--append-docs docs/benchmarks.md]
"""
import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time

import torch
from mmengine.config import Config, DictAction

import mmdret  # noqa: F401
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.utils.benchmark_docs import machine_description, machine_summary
from mmdret.apis.text_video_retrieval_inferencer import faiss_available
from mmdret.apis.video_gallery_index import GALLERY_FORMAT, GALLERY_VERSION, VideoGalleryIndex

WIDTH, FRAMES, WORDS = 64, 12, 32
RERANKER = dict(type='DiffusionReranker',
                t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
                v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
                scheduler=dict(type='DDIMScheduler', num_train_timesteps=50,
                               beta_schedule='cosine'),
                num_inference_steps=50, topk=32)
QUERIES = ['a red ball rolls to the left', 'a big blue square moves up',
           'a small green triangle moves right', 'a white disc goes down',
           'a yellow box slides left', 'a tiny purple wedge moves up',
           'a large white square moves to the right', 'a blue circle rolls down']


def tiny_config(stage):
    model = dict(
        type='DiffusionRet',
        encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', pretrained=None,
                     temporal_layers=1, temporal_heads=2),
        similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH, hidden_dim=2 * WIDTH))
    if stage == 2:
        model['reranker'] = RERANKER
    pipeline = [dict(type='LoadVideoFrames', max_frames=FRAMES),
                dict(type='TokenizeCaptions', max_words=WORDS),
                dict(type='PackRetrievalInputs', max_frames=FRAMES)]
    return Config(dict(default_scope='mmdret', model=model, test_pipeline=pipeline))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_gallery(inferencers, size, seed=0):
    """Random frame features of ``size`` videos as the gallery of each inferencer (of the same
    model; the tensors are shared); returns the bytes of one gallery."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(size, FRAMES, WIDTH, generator=generator)
    mask = torch.ones(size, FRAMES, dtype=torch.long)
    with torch.no_grad():
        weights = inferencers[0].model.similarity_head.video_weights(frames, mask)
    for inferencer in inferencers:
        inferencer.set_gallery([f'video{i}.mp4' for i in range(size)],
                               dict(frames=frames, frame_mask=mask, frame_weights=weights))
    return sum(v.numel() * v.element_size() for v in inferencers[0].gallery.values())


def timed(fn, repeats):
    """Best wall time of ``repeats`` calls (the minimum is robust to a busy, shared CPU)."""
    best, result = float('inf'), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def searches(shortlist):
    """``(name, shortlist, coarse_score, coarse_backend)`` of each compared search; the FAISS
    row only when faiss is installed."""
    rows = [('exhaustive', None, 'score', 'torch'),
            (f'shortlist-{shortlist}, chunked model score', shortlist, 'score', 'torch'),
            (f'shortlist-{shortlist}, pooled embedding, torch', shortlist, 'embedding', 'torch')]
    if faiss_available():
        rows.append((f'shortlist-{shortlist}, pooled embedding, FAISS IndexFlatIP', shortlist,
                     'embedding', 'faiss'))
    return rows


def run(sizes, num_queries, shortlist, stage, repeats):
    inferencers = {}
    for name, _, coarse_score, coarse_backend in searches(shortlist):
        torch.manual_seed(0)  # the same random model for every search
        inferencers[name] = TextVideoRetrievalInferencer(
            tiny_config(stage), show_progress=False, coarse_score=coarse_score,
            coarse_backend=coarse_backend, device='cpu')
    queries = (QUERIES * (num_queries // len(QUERIES) + 1))[:num_queries]
    rows = []
    for size in sizes:
        gallery_mib = synthetic_gallery(list(inferencers.values()), size) / 2**20
        hits = {}
        for name, value, coarse_score, _ in searches(shortlist):
            inferencer = inferencers[name]
            if coarse_score == 'embedding':
                inferencer.coarse_index()  # built once per gallery, like its features
            # Large galleries run once: the default run stays within a few minutes.
            seconds, hits[name] = timed(lambda: inferencer(queries, topk=10, shortlist=value),
                                        repeats if size < 50000 else 1)
            exact = hits['exhaustive']
            row = dict(size=size, search=name, gallery_mib=gallery_mib,
                       qps=num_queries / seconds,
                       top10_agree=sum([h['video'] for h in a] == [h['video'] for h in b]
                                       for a, b in zip(exact, hits[name])) / num_queries,
                       peak_rss_mib=peak_rss_mib())
            rows.append(row)
            print(f"{size:>7} videos  gallery {row['gallery_mib']:7.1f} MiB  {name:<52} "
                  f"{row['qps']:8.2f} q/s  top-10 identical {row['top10_agree']:.0%}  peak RSS "
                  f"{row['peak_rss_mib']:.0f} MiB", flush=True)
    return rows


def markdown(rows, args):
    lines = [
        '',
        '## Gallery search: exhaustive vs coarse shortlist '
        '(`tools/analysis/benchmark_retrieval_index.py`)',
        '',
        f'Synthetic gallery of a random tiny model (D={WIDTH}, {FRAMES} frames per video, '
        f'stage {args.stage}' + (f', diffusion re-ranking of the top {RERANKER["topk"]} with '
                                 f'{RERANKER["num_inference_steps"]} DDIM steps'
                                 if args.stage == 2 else '') +
        f'), {args.queries} queries per call, top-10; machine '
        f'{machine_summary(machine_description())}. '
        'Shortlist: a coarse score over the gallery (the model\'s score in gallery chunks, or '
        'the inner product of pooled embeddings in chunks or by a FAISS index built '
        'beforehand), '
        f'then `model.score` on the top {args.shortlist} (one call over the union of the '
        f'shortlists). Best of {args.repeats} runs (1 from 50k videos). Identical top-10: '
        'queries whose top 10 equal the exhaustive search\'s (on random features the pooled '
        'embedding is a weak proxy of the token-wise similarity). Peak RSS is the process '
        'maximum so far (monotonic).',
        '',
        '| gallery | features (MiB) | search | queries/s | identical top-10 | peak RSS (MiB) |',
        '|---:|---:|---|---:|---:|---:|',
    ]
    lines += [f"| {r['size']:,} | {r['gallery_mib']:.1f} | {r['search']} | {r['qps']:.2f} | "
              f"{r['top10_agree']:.0%} | {r['peak_rss_mib']:.0f} |" for r in rows]
    return '\n'.join(lines) + '\n'


def write_synthetic_cache(cache_file, size, seed=0, chunk=100000):
    """A gallery cache of ``size`` synthetic entries in the inferencer's format, for the tiny
    stage-2 model of :func:`tiny_config` (run in a child process: its memory is not counted)."""
    torch.manual_seed(0)
    inferencer = TextVideoRetrievalInferencer(tiny_config(2), show_progress=False, device='cpu')
    generator = torch.Generator().manual_seed(seed)
    frames = torch.empty(size, FRAMES, WIDTH)
    weights = torch.empty(size, FRAMES)
    mask = torch.ones(size, FRAMES, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, size, chunk):
            part = slice(start, min(start + chunk, size))
            frames[part] = torch.randn(part.stop - start, FRAMES, WIDTH, generator=generator)
            weights[part] = inferencer.model.similarity_head.video_weights(frames[part],
                                                                           mask[part])
    paths = [f'/videos/video{i:07d}.mp4' for i in range(size)]
    meta = dict(format=GALLERY_FORMAT, version=GALLERY_VERSION,
                model_fingerprint=inferencer.model_fingerprint, paths=paths, failed={})
    torch.save(dict(meta=json.dumps(meta), size=torch.zeros(size, dtype=torch.long),
                    mtime_ns=torch.zeros(size, dtype=torch.long),
                    features=dict(frames=frames, frame_mask=mask, frame_weights=weights)),
               cache_file)


def run_scale(sizes, num_queries, shortlist):
    """Load / FAISS build / FAISS read / query latency on synthetic caches of ``sizes``."""
    torch.manual_seed(0)
    inferencer = TextVideoRetrievalInferencer(tiny_config(2), show_progress=False, device='cpu',
                                              coarse_score='embedding', coarse_backend='faiss')
    queries = (QUERIES * (num_queries // len(QUERIES) + 1))[:num_queries]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            cache_file = os.path.join(folder, f'gallery{size}.pth')
            child = multiprocessing.get_context('spawn').Process(
                target=write_synthetic_cache, args=(cache_file, size))
            child.start()
            child.join()
            row = dict(size=size, cache_mib=os.path.getsize(cache_file) / 2**20,
                       rss_start_mib=peak_rss_mib())
            start = time.perf_counter()
            index = VideoGalleryIndex(inferencer.model_fingerprint, cache_file)
            index.load()
            features = index.select(index._cached[0])
            inferencer.gallery_index = index
            inferencer.set_gallery(index.paths, features)
            row['load_s'] = time.perf_counter() - start
            start = time.perf_counter()
            inferencer.coarse_index()
            row['faiss_build_s'] = time.perf_counter() - start
            row['rss_after_index_mib'] = peak_rss_mib()
            inferencer._faiss = inferencer._embedding = None
            start = time.perf_counter()
            inferencer.coarse_index()  # read back from <cache>.faiss
            row['faiss_read_s'] = time.perf_counter() - start
            seconds, _ = timed(lambda: inferencer(queries, topk=10, shortlist=shortlist), 3)
            row['query_ms'] = 1000 * seconds
            row['rss_end_mib'] = peak_rss_mib()
            rows.append(row)
            print(json.dumps(row), flush=True)
            inferencer.gallery = inferencer.gallery_index = inferencer._faiss = None
            del index, features
    return rows


def index_rate(config, folder, batch_size, cfg_options=None):
    """Videos/s of indexing ``folder`` from scratch (no cache) with the ``config`` model (with
    ``cfg_options`` merged; its weights, random where it has none); only decoding and encoding
    are timed, not building the model. Under ``torchrun`` the processes share the files."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    torch.manual_seed(0)
    inferencer = TextVideoRetrievalInferencer(cfg, device='cpu', gallery_batch_size=batch_size,
                                              show_progress=False)
    distributed = torch.distributed.is_initialized()
    if distributed:
        torch.distributed.barrier()  # every process has built its model
    start = time.perf_counter()
    inferencer.prepare_prototype(folder)
    seconds = time.perf_counter() - start
    videos = len(inferencer.gallery_paths)
    return dict(processes=torch.distributed.get_world_size() if distributed else 1,
                threads=torch.get_num_threads(), videos=videos,
                failed=len(inferencer.failed_videos), seconds=seconds,
                videos_per_s=videos / seconds)


def command_line(processes):
    """This run's command line as typed (``torchrun`` for several processes)."""
    launcher = f'torchrun --nproc_per_node {processes}' if processes > 1 else 'python'
    return ' '.join([launcher, *sys.argv])


def index_markdown(index_rows, args):
    options = ' '.join(f'{k}={v}' for k, v in (args.cfg_options or {}).items())
    lines = ['', '## Indexing throughput (`tools/analysis/benchmark_retrieval_index.py '
             '--index-videos ...`)', '',
             f'Machine: {machine_summary(machine_description())}.', '',
             f'Indexing real video files from scratch with `{args.index_config}`'
             + (f' (`--cfg-options {options}`)' if options else '') +
             f': decoded by its test pipeline and encoded in batches of '
             f'{args.index_batch_size}, no cache; building the model is not timed.', '',
             f'Command: `{command_line(index_rows[0]["processes"])}`', '',
             '| processes | torch threads per process | videos | undecodable | seconds | '
             'videos/s |', '|---:|---:|---:|---:|---:|---:|']
    lines += [f"| {r['processes']} | {r['threads']} | {r['videos']} | {r['failed']} | "
              f"{r['seconds']:.1f} | {r['videos_per_s']:.2f} |" for r in index_rows]
    return '\n'.join(lines) + '\n'


def scale_markdown(rows, args):
    lines = ['', '## Gallery index at scale (`tools/analysis/benchmark_retrieval_index.py '
             '--scale-sizes ...`)', '',
             f'Machine: {machine_summary(machine_description())}.', '',
             f'Synthetic gallery caches (D={WIDTH}, {FRAMES} frames per video, the stage-2 tiny '
             f'model), {args.queries} queries per batch, FAISS `IndexFlatIP` shortlist of '
             f'{args.shortlist}, then `model.score` (diffusion re-ranking) on the union of the '
             'shortlists. Load: the cache memory-mapped (tensors + JSON, `weights_only=True`). '
             'Peak RSS is the process maximum so far.', '',
             '| entries | cache (MiB) | load (s) | FAISS build + save (s) | FAISS read (s) | '
             'query batch (ms) | peak RSS before / after index / end (MiB) |',
             '|---:|---:|---:|---:|---:|---:|---|']
    lines += [f"| {r['size']:,} | {r['cache_mib']:.0f} | {r['load_s']:.1f} | "
              f"{r['faiss_build_s']:.1f} | {r['faiss_read_s']:.2f} | {r['query_ms']:.0f} | "
              f"{r['rss_start_mib']:.0f} / {r['rss_after_index_mib']:.0f} / "
              f"{r['rss_end_mib']:.0f} |" for r in rows]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='*', default=[1000, 10000, 100000])
    parser.add_argument('--queries', type=int, default=8)
    parser.add_argument('--shortlist', type=int, default=100)
    parser.add_argument('--stage', type=int, choices=[1, 2], default=2)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--scale-sizes', type=int, nargs='*', default=[],
                        help='synthetic gallery cache sizes, e.g. 100000 1000000')
    parser.add_argument('--index-videos', help='folder of videos to index (videos/s)')
    parser.add_argument('--index-config',
                        default='configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py')
    parser.add_argument('--index-batch-size', type=int, default=8)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of --index-config, e.g. a local CLIP file')
    parser.add_argument('--append-docs', help='append a markdown section to this file')
    args = parser.parse_args(argv)
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        torch.distributed.init_process_group('gloo')
    index_rows = [index_rate(args.index_config, args.index_videos, args.index_batch_size,
                             args.cfg_options)] if args.index_videos else []
    if torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
        torch.distributed.destroy_process_group()
        if rank:
            return index_rows
    rows = run(args.sizes, args.queries, args.shortlist, args.stage, args.repeats) \
        if args.sizes else []
    scale_rows = run_scale(args.scale_sizes, args.queries, args.shortlist)
    text = ((markdown(rows, args) if rows else '')
            + (scale_markdown(scale_rows, args) if scale_rows else '')
            + (index_markdown(index_rows, args) if index_rows else ''))
    print(text)
    if args.append_docs:
        os.makedirs(os.path.dirname(os.path.abspath(args.append_docs)), exist_ok=True)
        with open(args.append_docs, 'a') as f:
            f.write(text)
    return rows


if __name__ == '__main__':
    main()
