"""Queries/s and memory of gallery search with ``TextVideoRetrievalInferencer``: exhaustive
``model.score`` over the whole gallery vs a coarse shortlist then ``model.score`` on it, the
coarse score being the stage-1 similarity or pooled embeddings (torch, and FAISS when installed).

The gallery is synthetic: random frame features of a tiny random DiffusionRet model (no videos
are decoded), so the figures measure the search alone. Default: galleries of 1k, 10k and 100k
videos, a stage-2 (diffusion re-ranking) tiny model, CPU, a couple of minutes::

    python tools/analysis/benchmark_retrieval_index.py [--sizes 1000 10000 100000]
        [--queries 8] [--shortlist 100] [--stage 1|2] [--append-docs docs/benchmarks.md]
"""
import argparse
import os
import platform
import resource
import time

import torch
from mmengine.config import Config

import mmdret  # noqa: F401
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.apis.text_video_retrieval_inferencer import faiss_available

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
    rows = [('exhaustive', None, 'similarity', 'torch'),
            (f'shortlist-{shortlist}, stage-1 similarity', shortlist, 'similarity', 'torch'),
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
            coarse_backend=coarse_backend)
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
        f'), {args.queries} queries per call, top-10; CPU ({platform.processor() or "cpu"}, '
        f'{torch.get_num_threads()} threads), torch {torch.__version__}. '
        'Shortlist: a coarse score over the gallery (the stage-1 similarity in chunks, or the '
        'inner product of pooled embeddings in chunks or by a FAISS index built beforehand), '
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[1000, 10000, 100000])
    parser.add_argument('--queries', type=int, default=8)
    parser.add_argument('--shortlist', type=int, default=100)
    parser.add_argument('--stage', type=int, choices=[1, 2], default=2)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--append-docs', help='append a markdown section to this file')
    args = parser.parse_args(argv)
    rows = run(args.sizes, args.queries, args.shortlist, args.stage, args.repeats)
    text = markdown(rows, args)
    print(text)
    if args.append_docs:
        os.makedirs(os.path.dirname(os.path.abspath(args.append_docs)), exist_ok=True)
        with open(args.append_docs, 'a') as f:
            f.write(text)
    return rows


if __name__ == '__main__':
    main()
