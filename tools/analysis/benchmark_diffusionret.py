"""Benchmark DiffusionRet evaluation and stage-2 training on this machine.

Measures, in one run:

1. the fp32 GEMM rate (``torch.matmul`` of n x n x n, GFLOP/s), before and after the evaluation;
2. the evaluation of an MSRVTT-1kA-sized set from features (1000 texts x 1000 videos, 32 tokens,
   12 frames, D = 512): WTI similarity + 50-step DDIM re-ranking of the top 32 in both
   directions, through ``DiffusionRet.score`` and the retrieval loop's chunking and ranking;
   wall time, peak memory, the arithmetic it needs and the ratio wall / (FLOPs / GEMM rate).
   The plain (non-precomputed) re-ranking path is timed on a subset of queries for comparison;
3. stage-2 training samples/s from a feature cache (``DiffusionRet.loss`` on cached features)
   vs. from videos (decord decoding + encoder forward without grad + the same step).

Results are printed as a table and written to a section of ``docs/benchmarks.md``::

    python tools/analysis/benchmark_diffusionret.py            # defaults, writes the docs
    python tools/analysis/benchmark_diffusionret.py --quick    # tiny smoke run, no docs
"""
import argparse
import os
import os.path as osp
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.structures import BaseDataElement

import mmdret.models  # noqa: F401  (registers the modules)
from mmdret.engine.runner.query_scoring import MODALITIES, QueryChunkScorer
from mmdret.evaluation.functional import (DIRECTIONS, concat_features, ground_truth_ranks,
                                          positives_for, slice_features)
from mmdret.models.heads import DiffusionReranker, WTISimilarityHead
from mmdret.models.retrievers import DiffusionRet
from mmdret.utils import register_all_modules
from mmdret.utils.benchmark_docs import (machine_description, machine_summary,
                                         replace_docs_section)
from mmdret.utils.distributed import gather_indexed

DOCS_MARK = 'benchmark_diffusionret'
# Ranks of the benchmark sets ('default', 'quick') from the code before the shared-similarity
# and sampling speed work: ground-truth ranks and top-10 lists of every query.
REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_diffusionret_ranks.npz')
DIRECTION_NAMES = tuple(direction for direction, _, _ in DIRECTIONS)
TERA = 1e12
QUICK = dict(num_texts=64, num_videos=64, num_words=8, num_frames=4, dim=64, topk=8, steps=5,
             gemm_size=512, plain_queries=16, train_batch=16, train_iters=1, num_mp4=2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add = parser.add_argument
    add('--num-texts', type=int, default=1000, help='text queries / candidates')
    add('--num-videos', type=int, default=1000, help='video queries / candidates')
    add('--num-words', type=int, default=32, help='tokens per text (L)')
    add('--num-frames', type=int, default=12, help='frames per video (T)')
    add('--dim', type=int, default=512, help='feature and denoiser width (D)')
    add('--topk', type=int, default=32, help='candidates re-ranked per query')
    add('--steps', type=int, default=50, help='diffusion (training and DDIM sampling) steps')
    add('--query-chunk', type=int, default=32, help="queries scored at once (the loop's "
        'query_chunk_size)')
    add('--repeats', type=int, default=1,
        help='evaluation runs; the fastest is reported (all totals are listed)')
    add('--plain-queries', type=int, default=64,
        help='queries per direction timed on the plain re-ranking path (0: all, -1: none)')
    add('--extract-batch', type=int, default=1000,
        help='items per extract_text_feat / extract_video_feat call')
    add('--no-per-direction', dest='per_direction', action='store_false',
        help='skip the comparison run with the similarity computed once per direction')
    add('--processes', type=int, default=1,
        help='also evaluate on this many gloo processes (sharded as the loop shards) and '
        'compare wall time and rankings with one process')
    add('--progress', action='store_true', help='show the scoring progress bars')
    add('--max-query-chunks', type=int, default=None,
        help='memory probe: score only this many query chunks per direction (ranks are then '
        'meaningless; the wall time covers those chunks only)')
    add('--device', default='cpu', help="torch device of the whole run, e.g. 'cuda'")
    add('--stage1-train', action='store_true',
        help='also time stage-1 training (encoder + WTI + InfoNCE + backward + AdamW), fp32 '
        'and with bf16 autocast, at --stage1-batch')
    add('--stage1-batch', type=int, default=32, help='stage-1 batch (videos with 1 caption)')
    add('--epoch-samples', type=int, default=9000,
        help='samples per training epoch for the per-epoch figures (MSR-VTT 9k)')
    add('--gemm-size', type=int, default=2048, help='n of the n x n x n GEMM')
    add('--gemm-repeats', type=int, default=10)
    add('--train-batch', type=int, default=128, help='stage-2 batch (official global 128)')
    add('--train-iters', type=int, default=3, help='timed training steps (after one warm-up)')
    add('--num-mp4', type=int, default=4, help='mp4 files written and decoded')
    add('--vit-b32', action='store_true',
        help='encode videos/texts with a random-weight ViT-B/32 CLIPTextFrameEncoder instead '
        'of a tiny one (slow on CPUs: ~4.4 GFLOP per frame)')
    add('--threads', type=int, default=None, help='torch threads (default: torch default)')
    add('--seed', type=int, default=0)
    add('--quick', action='store_true', help='tiny sizes: a smoke run (writes no docs unless '
        '--docs is given)')
    add('--docs', default=None, help='markdown file whose benchmark section is written '
        '(default: docs/benchmarks.md, none with --quick)')
    add('--docs-label', default=None, help='name of the docs section this run replaces '
        '(default: "<threads> torch thread(s)")')
    add('--no-docs', action='store_true', help='only print')
    add('--skip', choices=['eval', 'train'], action='append', default=[],
        help='leave out a part (repeatable); the docs are written then only with '
        '--docs-label')
    args = parser.parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: torch sees no CUDA device on this machine')
    if args.processes > 1 and args.device != 'cpu':
        parser.error('--processes > 1 runs gloo processes on the CPU: use --device cpu')
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    if args.vit_b32:
        args.dim = 512  # the denoisers and the similarity take ViT-B/32's output width
    if args.docs is None and not args.quick:
        args.docs = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                             'docs', 'benchmarks.md')
    if args.no_docs or (args.skip and args.docs_label is None):
        args.docs = None  # a partial run replaces only a section it names
    return args


# -- arithmetic --------------------------------------------------------------------------------
def wti_flops(num_texts, num_videos, num_words, num_frames, dim):
    """Multiply-adds (x2) of the token-frame dot products: 2 Nt Nv L T D."""
    return 2 * num_texts * num_videos * num_words * num_frames * dim


def denoiser_flops(direction, num_queries, topk, num_frames, dim, steps, variant='implemented',
                   chunk=32):
    """FLOPs (2 per multiply-add; elementwise ops not counted) of re-ranking ``num_queries``.

    K candidates, T frames, D width; per query unless said otherwise. Terms shared by both
    directions: pooling 4KTD, Wk e and Wv e 4KD²; Wq is 2D² for t2v (one query vector) and 2KD²
    for v2t (one per candidate).

    * ``'plain'``: ``forward`` at every step: pooling, timestep MLP 4D², Wq, Wk, Wv, logits and
      weighted sum 4KD, proj 2D², decoder W1_h h 4D² + W1_e e 4KD² + last layer 4KD.
    * ``'precomputed'`` (the minimal count, the floor's): once pooling, Wq, Wk, Wv, q.k 2KD
      and the decoder's candidate half W1_e e 4KD²; per step the logit corrections 2KD
      (+2KD v2t), weighted sum 2KD, proj 2D², W1_h h 4D², last layer 4KD; per step and chunk
      the timestep MLP 4D² and Wq c, Wk c, Wv c 6D².
    * ``'implemented'`` (``precompute`` / ``denoise_cached``): once pooling, Wq, Wk, Wv, q.k,
      W1_e e, and the values carried into the decoder W1_h Wo Wv e (Wo 2KD², W1_h 4KD²); per
      step the logit corrections, the weighted sum of those 2D-wide values 4KD and the last
      layer 4KD; per step and chunk the timestep MLP, Wq c, Wk c, Wv c, proj 2D², W1_h 4D².
    """
    K, T, D = topk, num_frames, dim
    query_proj = 2 * D * D if direction == 't2v' else 2 * K * D * D
    logit_terms = 2 * K * D * (2 if direction == 'v2t' else 1)
    num_chunks = -(-num_queries // chunk)
    if variant == 'plain':
        per_step = (4 * K * T * D + 4 * D * D + query_proj + 4 * K * D * D + 4 * K * D +
                    2 * D * D + 4 * D * D + 4 * K * D * D + 4 * K * D)
        return num_queries * steps * per_step
    once = 4 * K * T * D + query_proj + 4 * K * D * D + 2 * K * D + 4 * K * D * D
    if variant == 'precomputed':
        per_step = logit_terms + 2 * K * D + 2 * D * D + 4 * D * D + 4 * K * D
        per_chunk_step = 10 * D * D
    elif variant == 'implemented':
        once += 6 * K * D * D
        per_step = logit_terms + 4 * K * D + 4 * K * D
        per_chunk_step = 16 * D * D
    else:
        raise ValueError(f'unknown variant {variant!r}')
    return num_queries * (once + steps * per_step) + num_chunks * steps * per_chunk_step


# -- measurements ------------------------------------------------------------------------------
def synchronize(device):
    """Wait for queued kernels (timings on CUDA); nothing on the CPU."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def to_device(features, device):
    return {modality: {k: v.to(device) for k, v in part.items()}
            for modality, part in features.items()}


def gemm_rate(size, repeats, device='cpu'):
    """fp32 GEMM rate in GFLOP/s: (mean over the repeats, best single call)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.matmul(a, b)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        synchronize(device)
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return flops * len(times) / sum(times) / 1e9, flops / min(times) / 1e9


class PeakMemory:
    """Peak resident memory of a phase: VmHWM after resetting it (``/proc/self/clear_refs``),
    else the process-lifetime ``ru_maxrss``; on CUDA also the peak allocated device memory
    (``device_peak``, None on the CPU)."""

    def __init__(self, device='cpu'):
        self.device, self.device_peak = torch.device(device), None

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            self.method = 'VmHWM (peak RSS, reset before the phase via /proc/self/clear_refs)'
        except OSError:
            self.method = 'ru_maxrss (process-lifetime peak RSS, resource.getrusage)'
        self.start_rss = proc_status('VmRSS')
        return self

    def __exit__(self, *exc):
        peak = proc_status('VmHWM') if self.method.startswith('VmHWM') else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.method = 'ru_maxrss (process-lifetime peak RSS, resource.getrusage)'
        self.peak = peak
        if self.device.type == 'cuda':
            self.device_peak = torch.cuda.max_memory_allocated(self.device)


def proc_status(key):
    """A ``/proc/self/status`` memory entry in bytes (None if unavailable)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# -- evaluation --------------------------------------------------------------------------------
def random_features(args, gen):
    """Stage-1 features of an MSRVTT-1kA-like test set (text i describes video i)."""
    Nt, Nv, L, T, D = args.num_texts, args.num_videos, args.num_words, args.num_frames, args.dim
    text_len = torch.randint(max(L // 4, 1), L + 1, (Nt, ), generator=gen)
    text_mask = (torch.arange(L)[None] < text_len[:, None]).long()
    frame_len = torch.randint(max(T // 2, 1), T + 1, (Nv, ), generator=gen)
    frame_mask = (torch.arange(T)[None] < frame_len[:, None]).long()
    # The encoder zeroes padded token features; padded frames keep temporal-transformer outputs.
    tokens = torch.randn(Nt, L, D, generator=gen) * text_mask[..., None]
    frames = torch.randn(Nv, T, D, generator=gen)
    video_of_text = torch.arange(Nt) % Nv
    return dict(tokens=tokens, token_mask=text_mask, eot=torch.randn(Nt, D, generator=gen),
                frames=frames, frame_mask=frame_mask, video_index=video_of_text)


def text_samples(video_index):
    """Data samples of single-caption texts (``text_idx`` / ``video_idx``), as a loader gives."""
    return [BaseDataElement(metainfo=dict(video_idx=int(v), text_idx=[i]))
            for i, v in enumerate(video_index.tolist())]


def extracted_features(model, raw, batch):
    """``model.extract_text_feat`` / ``extract_video_feat`` of the cached-feature inputs, in
    batches of ``batch`` items as the retrieval loop extracts them."""
    samples = text_samples(raw['video_index'])
    texts, videos = [], []
    with torch.no_grad():
        for first in range(0, len(raw['eot']), batch):
            part = slice(first, first + batch)
            texts.append(model.extract_text_feat(
                dict(text_tokens=raw['tokens'][part], text_mask=raw['token_mask'][part],
                     text_eot=raw['eot'][part]), samples[part]))
        for first in range(0, len(raw['frames']), batch):
            part = slice(first, first + batch)
            videos.append(model.extract_video_feat(
                dict(video_frames=raw['frames'][part], video_mask=raw['frame_mask'][part]),
                data_samples(range(first, min(first + batch, len(raw['frames']))))))
    return dict(text=concat_features(texts), video=concat_features(videos))


class TimedRerank:
    """Wraps ``model.reranker.rerank`` (an instance attribute for this run) to time its
    calls."""

    def __init__(self, reranker):
        self.reranker, self.seconds = reranker, 0.0

    def __enter__(self):
        rerank = self.reranker.rerank

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = rerank(*args, **kwargs)
            self.seconds += time.perf_counter() - start
            return out

        self.reranker.rerank = timed
        return self

    def __exit__(self, *exc):
        del self.reranker.rerank


def evaluate(model, local, gathered, chunk, share_similarity=True, show_progress=False,
             device='cpu', max_chunks=None):
    """The retrieval loop's scoring (``QueryChunkScorer``, as ``RetrievalEvaluation``
    runs it) and the ranks of the ground truth, per direction.

    ``max_chunks`` stops each direction after that many query chunks (a memory probe of sizes
    too large to score fully here): video-to-text then reads the shared similarity columns
    that text-to-video allocated in full but filled only partly, so its ranks are meaningless.

    Returns:
        dict: per direction wall seconds, re-ranking seconds, ground-truth ranks (Q,) and the
        top-10 candidates (Q, 10) in score order.
    """
    scorer = QueryChunkScorer(model, local, gathered, chunk, share_similarity, show_progress)
    out = dict(wall={}, rerank={}, ranks={}, top={})
    for direction in DIRECTION_NAMES:
        candidates = gathered['video' if direction == 't2v' else 'text']
        ranks, tops = [], []
        with TimedRerank(model.reranker) as timed:
            start = time.perf_counter()
            for count, (queries, scores) in enumerate(scorer.chunks(direction), 1):
                ranks.append(ground_truth_ranks(scores.float(),
                                                positives_for(direction, queries, candidates)))
                tops.append(scores.topk(min(10, scores.shape[1]), dim=1).indices)
                if count == max_chunks:
                    if scorer.share and direction == 't2v':
                        # As if all text chunks had been scored: every row written (resident).
                        scorer.columns[scorer.text_rows[0][count * chunk:]] = 0.0
                        scorer.t2v_done = True
                    break
            synchronize(device)
            out['wall'][direction] = time.perf_counter() - start
        out['rerank'][direction] = timed.seconds
        out['ranks'][direction] = torch.cat(ranks).cpu()
        out['top'][direction] = torch.cat(tops).cpu()
    return out


def plain_rerank_seconds(model, features, chunk, max_queries, precompute):
    """Re-ranking seconds of the first ``max_queries`` queries per direction, with the
    step-invariant precomputation or the plain per-step forward."""
    seconds = {}
    for direction in DIRECTION_NAMES:
        query_modality, candidate_modality = MODALITIES[direction]
        queries, candidates = features[query_modality], features[candidate_modality]
        total = min(queries['index'].numel(), max_queries)
        seconds[direction] = 0.0
        for first in range(0, total, chunk):
            part = slice_features(queries, slice(first, min(first + chunk, total)))
            with torch.no_grad():
                stage1 = (model.shared_similarity(part, candidates) if direction == 't2v' else
                          model.shared_similarity(candidates, part).t())
                start = time.perf_counter()
                model.reranker.rerank(direction, stage1, part, candidates,
                                      precompute=precompute)
            seconds[direction] += time.perf_counter() - start
    return seconds


def reference_name(args):
    """Which stored reference ranks this run's evaluation set has (None: none stored)."""
    if args.max_query_chunks:
        return None
    keys = ('num_texts', 'num_videos', 'num_words', 'num_frames', 'dim', 'topk', 'steps',
            'query_chunk', 'seed', 'extract_batch')
    defaults = parse_args(['--no-docs'])
    if all(getattr(args, key) == getattr(defaults, key) for key in keys):
        return 'default'
    quick = parse_args(['--quick'])
    if all(getattr(args, key) == getattr(quick, key) for key in keys):
        return 'quick'
    return None


def check_reference(args, out):
    """Assert the ranks equal those stored from the code before the speed work (ground-truth
    ranks and the top-10 order of every query, both directions). Returns the verdict text."""
    name = reference_name(args)
    if name is None or not osp.exists(REFERENCE):
        return 'not checked (no stored reference for this evaluation set)'
    reference = np.load(REFERENCE)
    for direction in DIRECTION_NAMES:
        ranks = out['ranks'][direction].numpy()
        top = out['top'][direction].numpy()
        expected = reference[f'{name}.{direction}_ranks'], reference[f'{name}.{direction}_top10']
        if not (np.array_equal(ranks, expected[0]) and np.array_equal(top, expected[1])):
            raise AssertionError(
                f'{direction} rankings differ from {REFERENCE} ({name}): '
                f'{int((ranks != expected[0]).sum())} ground-truth ranks, '
                f'{int((top != expected[1]).any(axis=1).sum())} top-10 lists')
    return (f'identical to the stored reference ({osp.basename(REFERENCE)}, "{name}": '
            'ground-truth ranks and top-10 order of every query, both directions)')


def build_reranker(args):
    reranker = DiffusionReranker(
        t2v_denoiser=dict(type='TextToVideoDenoiser', width=args.dim),
        v2t_denoiser=dict(type='VideoToTextDenoiser', width=args.dim),
        scheduler=dict(type='DDIMScheduler', num_train_timesteps=args.steps,
                       beta_schedule='cosine'),
        num_inference_steps=args.steps, topk=args.topk,
        num_negatives=args.train_batch - 1)
    quiet_init(reranker)
    return reranker


def quiet_init(module):
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    try:
        module.init_weights()
    finally:
        logger.setLevel(level)


def build_eval_model(args):
    """A stage-2 ``DiffusionRet`` (tiny encoder, unused on cached features) whose similarity
    head and re-ranker are drawn from ``args.seed`` first, as the stored reference ranks were."""
    torch.manual_seed(args.seed)
    head = WTISimilarityHead(embed_dim=args.dim)
    reranker = build_reranker(args)
    model, _ = build_model(args, vit_b32=False)
    model.similarity_head.load_state_dict(head.state_dict())
    model.reranker.load_state_dict(reranker.state_dict())
    return model.eval()


def recall_at_1(out):
    return {d: float((ranks < 1).float().mean()) for d, ranks in out['ranks'].items()}


def same_rankings(a, b):
    return all(torch.equal(a[key][d], b[key][d]) for key in ('ranks', 'top')
               for d in DIRECTION_NAMES)


def run_evaluation(args, results):
    gen = torch.Generator().manual_seed(args.seed)
    model = build_eval_model(args).to(args.device)
    raw = {k: v.to(args.device) for k, v in random_features(args, gen).items()}
    features = extracted_features(model, raw, args.extract_batch)
    del raw
    Nt, Nv = args.num_texts, args.num_videos
    L, T, D, K = args.num_words, args.num_frames, args.dim, args.topk
    k = min(K, Nv), min(K, Nt)

    # Each run is bracketed by GEMM measurements, so that its ratio uses the rate the machine
    # gave at that time (it varies on shared machines); the fastest run is reported.
    runs = []
    with PeakMemory(args.device) as memory:
        for _ in range(args.repeats):
            before = gemm_rate(args.gemm_size, args.gemm_repeats, args.device)
            out = evaluate(model, features, features, args.query_chunk,
                           show_progress=args.progress, device=args.device,
                           max_chunks=args.max_query_chunks)
            runs.append(dict(gemm_before=before, eval_wall=out['wall'],
                             eval_rerank=out['rerank'], eval_recall=recall_at_1(out),
                             gemm_after=gemm_rate(args.gemm_size, args.gemm_repeats,
                                                  args.device)))
            if not same_rankings(out, runs[0].setdefault('out', out)):
                raise AssertionError('repeated evaluations ranked differently')
    totals = [sum(run['eval_wall'].values()) for run in runs]
    best = runs[totals.index(min(totals))]
    results.update(best, eval_totals=totals, memory_method=memory.method,
                   memory_peak=memory.peak, memory_start=memory.start_rss,
                   device_peak=memory.device_peak,
                   reference=check_reference(args, runs[0]['out']), out=runs[0]['out'])

    if args.per_direction and not args.max_query_chunks:
        # Today's path (the similarity once per direction), same run, for the ratio.
        out = evaluate(model, features, features, args.query_chunk, share_similarity=False,
                       device=args.device)
        if not same_rankings(out, runs[0]['out']):
            raise AssertionError('the shared-similarity rankings differ from the '
                                 'per-direction ones')
        results.update(per_direction_wall=out['wall'], per_direction_rerank=out['rerank'])

    if args.processes > 1 and not args.max_query_chunks:
        results['processes'] = run_processes(args, runs[0]['out'])

    if args.plain_queries >= 0:
        # Plain path on a subset, against the cached path on the same queries.
        subset = args.plain_queries or max(Nt, Nv)
        results.update(plain_subset=subset,
                       plain_rerank=plain_rerank_seconds(model, features, args.query_chunk,
                                                         subset, precompute=False),
                       cached_rerank_subset=plain_rerank_seconds(
                           model, features, args.query_chunk, subset, precompute=True))

    sim_once = wti_flops(Nt, Nv, L, T, D)
    flops = dict(wti_once=sim_once, wti_executed=sim_once, wti_per_direction=2 * sim_once)
    for variant in ('precomputed', 'implemented', 'plain'):
        for direction, n, kk in (('t2v', Nt, k[0]), ('v2t', Nv, k[1])):
            flops[f'{direction}_{variant}'] = denoiser_flops(
                direction, n, kk, T, D, args.steps, variant, chunk=args.query_chunk)
    # The floor: the similarity once plus the denoisers' minimal ('precomputed') count.
    flops['needed'] = (flops['wti_once'] + flops['t2v_precomputed'] +
                       flops['v2t_precomputed'])
    flops['executed'] = (flops['wti_executed'] + flops['t2v_implemented'] +
                         flops['v2t_implemented'])
    results['flops'] = flops
    results['lifetime_peak'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def shard(features, rank, world_size):
    """The items a ``DefaultSampler`` without shuffling gives ``rank``: every
    ``world_size``-th one."""
    return slice_features(features, slice(rank, None, world_size))


def process_worker(rank, world_size, args, port, result_path):
    """One gloo rank of :func:`run_processes`: its shard of the features, the candidates
    gathered as the retrieval loop gathers them, then the loop's scoring of its queries."""
    import torch.distributed as torch_dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch_dist.init_process_group('gloo', rank=rank, world_size=world_size)
    torch.set_num_threads(max(1, (args.threads or torch.get_num_threads()) // world_size))
    register_all_modules()
    model = build_eval_model(args)
    gen = torch.Generator().manual_seed(args.seed)
    features = extracted_features(model, random_features(args, gen), args.extract_batch)
    local = {m: shard(f, rank, world_size) for m, f in features.items()}
    del features
    torch_dist.barrier()
    start = time.perf_counter()
    gathered = {m: gather_indexed(f, f['index'])[0] for m, f in local.items()}
    out = evaluate(model, local, gathered, args.query_chunk)
    torch_dist.barrier()
    wall = time.perf_counter() - start
    parts = [None] * world_size
    torch_dist.all_gather_object(parts, ({d: (local[MODALITIES[d][0]]['index'],
                                              out['ranks'][d], out['top'][d])
                                          for d in DIRECTION_NAMES}))
    if rank == 0:
        merged = dict(ranks={}, top={})
        for d in DIRECTION_NAMES:
            index = torch.cat([part[d][0] for part in parts])
            order = index.argsort()
            merged['ranks'][d] = torch.cat([part[d][1] for part in parts])[order]
            merged['top'][d] = torch.cat([part[d][2] for part in parts])[order]
        torch.save(dict(wall=wall, out=merged), result_path)
    torch_dist.destroy_process_group()


def run_processes(args, single):
    """Wall time of the evaluation on ``args.processes`` gloo ranks (``torch.multiprocessing``
    on this machine; features sharded, candidates gathered, each rank scoring its own queries)
    and whether its rankings equal the one-process ``single`` ones."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'result.pt')
        # fork: the workers inherit the imports (and this module, however it was loaded)
        mp.start_processes(process_worker, args=(args.processes, args, port, path),
                           nprocs=args.processes, start_method='fork')
        result = torch.load(path)
    equal = same_rankings(result['out'], single)
    if not equal:
        raise AssertionError(f'{args.processes} processes ranked differently from one')
    return dict(count=args.processes, wall=result['wall'], equal=equal,
                recall=recall_at_1(result['out']))


# -- training ----------------------------------------------------------------------------------
def tiny_clip_arch(dim, context_length):
    """A tiny random CLIP whose output width is ``dim`` (the denoisers' width)."""
    return dict(embed_dim=dim,
                vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16, head_width=32),
                text_cfg=dict(context_length=context_length, vocab_size=49408, width=64,
                              heads=2, layers=1))


def build_model(args, vit_b32=None, reranker=True):
    if args.vit_b32 if vit_b32 is None else vit_b32:
        encoder = dict(type='CLIPTextFrameEncoder', arch='ViT-B-32')
    else:
        encoder = dict(type='CLIPTextFrameEncoder',
                       arch=tiny_clip_arch(args.dim, max(32, args.num_words)),
                       temporal_layers=1, temporal_heads=2, init_temporal_from_text=False)
    model = DiffusionRet(
        encoder=encoder,
        similarity_head=dict(type='WTISimilarityHead', embed_dim=args.dim),
        reranker=dict(
            type='DiffusionReranker',
            t2v_denoiser=dict(type='TextToVideoDenoiser', width=args.dim),
            v2t_denoiser=dict(type='VideoToTextDenoiser', width=args.dim),
            scheduler=dict(type='DDIMScheduler', num_train_timesteps=args.steps,
                           beta_schedule='cosine'),
            num_inference_steps=args.steps, topk=args.topk,
            num_negatives=args.train_batch - 1) if reranker else None)
    if reranker:
        quiet_init(model.reranker)
    image_size = model.encoder.clip.visual.image_size
    image_size = image_size[0] if isinstance(image_size, (tuple, list)) else image_size
    return model, image_size


def data_samples(indices):
    return [BaseDataElement(metainfo=dict(video_idx=int(i), text_idx=[int(i)])) for i in indices]


def train_step(model, optimizer, inputs, samples, amp=False):
    optimizer.zero_grad()
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        loss, _ = model.parse_losses(model.loss(inputs, samples))
    loss.backward()
    optimizer.step()


def cached_step_fn(model, raw, batch, gen):
    """One stage-2 step from a feature cache: gather a batch of cached features, then
    ``DiffusionRet.loss`` on them (the model's cached-feature input path)."""

    def step(optimizer):
        idx = torch.randperm(len(raw['eot']), generator=gen)[:batch].to(raw['eot'].device)
        inputs = dict(text_tokens=raw['tokens'][idx], text_mask=raw['token_mask'][idx],
                      text_eot=raw['eot'][idx], video_frames=raw['frames'][idx],
                      video_mask=raw['frame_mask'][idx])
        train_step(model, optimizer, inputs, data_samples(idx))

    return step


def write_mp4s(directory, count, seconds=12, fps=25, size=(320, 240)):
    """Small synthetic mp4s (MSRVTT-like 320x240) written with OpenCV."""
    import cv2
    paths, rng = [], np.random.default_rng(0)
    for i in range(count):
        path = osp.join(directory, f'video{i}.mp4')
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
        base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        for t in range(seconds * fps):
            writer.write(np.roll(base, 4 * t, axis=1))
        writer.release()
        paths.append(path)
    return paths


def decode_seconds(paths, num_frames, image_size):
    """Mean seconds per video of the data pipeline's decoding (``LoadVideoFrames``: decord,
    1 fps, uniformly subsampled to ``num_frames``) plus resize / centre crop / normalise."""
    import cv2

    from mmdret.datasets.transforms.load_video_frames import LoadVideoFrames
    loader = LoadVideoFrames(max_frames=num_frames)
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32) * 255
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32) * 255
    loader.transform(dict(filename=paths[0]))  # warm-up (library loading)
    start = time.perf_counter()
    for path in paths:
        frames = loader.transform(dict(filename=path))['imgs']
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            scale = image_size / min(h, w)
            frame = cv2.resize(frame, (round(w * scale), round(h * scale)),
                               interpolation=cv2.INTER_CUBIC)
            top, left = (frame.shape[0] - image_size) // 2, (frame.shape[1] - image_size) // 2
            frame = frame[top:top + image_size, left:left + image_size]
            out.append(((frame.astype(np.float32) - mean) / std).transpose(2, 0, 1))
        torch.from_numpy(np.stack(out))
    return (time.perf_counter() - start) / len(paths)


def video_step_fn(model, args, image_size, gen, batch, amp=False):
    """One training step from decoded frames and token ids: in stage 2 the frozen encoder runs
    (no grad) inside ``DiffusionRet.loss``, then the same step as from the cache; in stage 1
    (a model without re-ranker) the encoder trains."""
    B, L, T = batch, args.num_words, args.num_frames
    frames = torch.randn(B, T, 3, image_size, image_size, generator=gen)
    frame_len = torch.randint(max(T // 2, 1), T + 1, (B, ), generator=gen)
    video_mask = (torch.arange(T)[None] < frame_len[:, None]).long()
    text_len = torch.randint(max(L // 4, 2), L + 1, (B, ), generator=gen)
    text_mask = (torch.arange(L)[None] < text_len[:, None]).long()
    tokens = torch.randint(1, 49000, (B, L), generator=gen) * text_mask
    tokens[torch.arange(B), text_len - 1] = 49407  # EOT, the argmax
    inputs = {k: v.to(args.device) for k, v in
              dict(text=tokens, text_mask=text_mask, video=frames, video_mask=video_mask).items()}

    def step(optimizer):
        train_step(model, optimizer, inputs, data_samples(range(B)), amp)

    return step


def time_steps(step, optimizer, iters, device='cpu'):
    step(optimizer)  # warm-up
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step(optimizer)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_training(args, results):
    gen = torch.Generator().manual_seed(args.seed + 1)
    torch.manual_seed(args.seed + 1)
    model, image_size = build_model(args)
    model.to(args.device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    raw = {k: v.to(args.device) for k, v in random_features(args, gen).items()}
    B = args.train_batch
    cached = time_steps(cached_step_fn(model, raw, B, gen), optimizer, args.train_iters,
                        args.device)
    encoded = time_steps(video_step_fn(model, args, image_size, gen, B), optimizer,
                         args.train_iters, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        decode = decode_seconds(write_mp4s(tmp, args.num_mp4), args.num_frames, image_size)
    results.update(train_cached=cached, train_encoded=encoded, decode_per_video=decode,
                   encoder='ViT-B/32 (random weights)' if args.vit_b32 else
                   f'tiny CLIP (1+1 layers, width 64, {image_size}px, output {args.dim})',
                   image_size=image_size)


def run_stage1_training(args, results):
    """Stage-1 training samples/s (encoder forward and backward, WTI similarity, symmetric
    InfoNCE, AdamW) in fp32 and with bf16 autocast, same model and batch, one run."""
    gen = torch.Generator().manual_seed(args.seed + 2)
    torch.manual_seed(args.seed + 2)
    model, image_size = build_model(args, reranker=False)
    model.to(args.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7)
    seconds = {}
    for amp in (False, True):
        seconds[amp] = time_steps(
            video_step_fn(model, args, image_size, gen, args.stage1_batch, amp), optimizer,
            args.train_iters, args.device)
    results.update(stage1_fp32=seconds[False], stage1_bf16=seconds[True],
                   stage1_image_size=image_size)


# -- report ------------------------------------------------------------------------------------
def report(args, machine, res):
    rows = [('Machine', f"{machine_summary(machine)}; load average at start {machine['load']}" +
             (f"; device {args.device} ({machine['gpu']})" if args.device != 'cpu' else ''))]
    if 'flops' in res:
        rows += evaluation_rows(args, res)
    if 'train_cached' in res:
        rows += training_rows(args, res)
    if 'stage1_fp32' in res:
        rows += stage1_rows(args, res)
    width = max(len(name) for name, _ in rows)
    text = '\n'.join(f'{name:<{width}}  {value}' for name, value in rows)
    markdown = '\n'.join(['| Measure | Value |', '| --- | --- |'] +
                         [f'| {name} | {value} |' for name, value in rows])
    return text, markdown


def tflop(flops):
    """TFLOP with three significant digits."""
    return f'{flops / TERA:.3g}'


def evaluation_rows(args, res):
    flops = res['flops']
    gemm = (res['gemm_before'][0] + res['gemm_after'][0]) / 2
    wall = sum(res['eval_wall'].values())
    rerank = sum(res['eval_rerank'].values())
    floor_needed = flops['needed'] / (gemm * 1e9)
    floor_executed = flops['executed'] / (gemm * 1e9)
    size = (f'{args.num_texts} texts ({args.num_words} tokens) x {args.num_videos} videos '
            f'({args.num_frames} frames), D={args.dim}, top-{args.topk}, {args.steps} DDIM '
            f'steps, query chunks of {args.query_chunk}')
    rows = [
        ('fp32 GEMM rate', f"{gemm:.1f} GFLOP/s (n={args.gemm_size} matmul, mean of "
         f"{res['gemm_before'][0]:.1f} just before / {res['gemm_after'][0]:.1f} just after the "
         f"evaluation run; best single call "
         f"{max(res['gemm_before'][1], res['gemm_after'][1]):.1f})"),
        ('Evaluation set', size + (
            f'; memory probe: only the first {args.max_query_chunks} query chunks per '
            'direction scored (ranks and FLOP ratios below not meaningful)'
            if args.max_query_chunks else '')),
        ('Evaluation wall time', f"{wall:.1f} s (t2v {res['eval_wall']['t2v']:.1f} s, v2t "
         f"{res['eval_wall']['v2t']:.1f} s): WTI similarity once (shared by both directions) "
         f"and ranking {wall - rerank:.1f} s, re-ranking {rerank:.1f} s" + (
             '; fastest run of ' + ', '.join(f'{t:.1f}' for t in res['eval_totals']) + ' s'
             if len(res['eval_totals']) > 1 else '')),
        ('Rankings', res['reference']),
    ]
    if 'per_direction_wall' in res:
        per_direction = sum(res['per_direction_wall'].values())
        rows.append(('Similarity once per direction (before)',
                     f"{per_direction:.1f} s (re-ranking "
                     f"{sum(res['per_direction_rerank'].values()):.1f} s), same rankings: "
                     f"{per_direction / wall:.2f}x the shared-similarity wall time"))
    if 'processes' in res:
        proc = res['processes']
        rows.append((f"{proc['count']} gloo processes", (
            f"{proc['wall']:.1f} s (gathering the candidates + scoring, each process "
            f"{max(1, machine_threads(args) // proc['count'])} thread(s)) vs {wall:.1f} s on "
            f"one process: {wall / proc['wall']:.2f}x; rankings (and so all metrics) "
            f"identical: {proc['equal']}")))
    rows += [
        ('Peak memory (evaluation)', f"{res['memory_peak'] / 2**30:.2f} GiB "
         f"({res['memory_start'] / 2**30:.2f} GiB before it; {res['memory_method']}); "
         f"process lifetime peak {res['lifetime_peak'] / 2**30:.2f} GiB (ru_maxrss)" + (
             f"; device peak {res['device_peak'] / 2**30:.2f} GiB "
             "(torch.cuda.max_memory_allocated)" if res.get('device_peak') is not None
             else '')),
        ('Arithmetic needed', f"{tflop(flops['needed'])} TFLOP = WTI "
         f"{tflop(flops['wti_once'])} (2·Nt·Nv·L·T·D, once) + denoisers with the "
         f"step-invariant work done once: t2v {tflop(flops['t2v_precomputed'])} + v2t "
         f"{tflop(flops['v2t_precomputed'])}"),
        ('Arithmetic executed', f"{tflop(flops['executed'])} TFLOP = WTI "
         f"{tflop(flops['wti_executed'])} (once: video->text re-uses the text->video "
         f"similarity) + denoisers t2v {tflop(flops['t2v_implemented'])} + v2t "
         f"{tflop(flops['v2t_implemented'])} (decoder values folded: W1_h Wo Wv e once)"),
        ('wall / (needed FLOPs / GEMM rate)', f"{wall / floor_needed:.2f}x "
         f"(floor {floor_needed:.1f} s; target <= 2x at 2 threads, <= 1.6x at 1 thread)"),
        ('wall / (executed FLOPs / GEMM rate)', f"{wall / floor_executed:.2f}x "
         f"(floor {floor_executed:.1f} s)"),
    ]
    if 'plain_subset' in res:
        subset = res['plain_subset']
        counts = dict(t2v=min(subset, args.num_texts), v2t=min(subset, args.num_videos))
        plain = {d: res['plain_rerank'][d] / n for d, n in counts.items()}
        cached = {d: res['cached_rerank_subset'][d] / n for d, n in counts.items()}
        plain_full = plain['t2v'] * args.num_texts + plain['v2t'] * args.num_videos
        rows += [
            ('Re-ranking per query, precomputed', f"t2v {1e3 * cached['t2v']:.1f} ms, "
             f"v2t {1e3 * cached['v2t']:.1f} ms (first {subset} queries per direction)"),
            ('Re-ranking per query, plain forward', f"t2v {1e3 * plain['t2v']:.1f} ms, "
             f"v2t {1e3 * plain['v2t']:.1f} ms: {plain_full:.0f} s for the whole set "
             f"(extrapolated) vs {rerank:.1f} s measured with precomputation; plain needs "
             f"{tflop(flops['t2v_plain'] + flops['v2t_plain'])} TFLOP for the denoisers"),
        ]
    rows.append(('R@1 (random features, sanity only)', f"t2v {res['eval_recall']['t2v']:.3f}, "
                 f"v2t {res['eval_recall']['v2t']:.3f}"))
    return rows


def machine_threads(args):
    return args.threads or torch.get_num_threads()


def training_rows(args, res):
    B = args.train_batch
    video_step = res['train_encoded'] + B * res['decode_per_video']
    epoch = args.epoch_samples
    return [
        ('Stage-2 training from feature cache', f"{B / res['train_cached']:.1f} samples/s "
         f"({res['train_cached']:.2f} s per batch of {B}: gather + DiffusionRet.loss + "
         f"backward + AdamW)"),
        ('Stage-2 training from videos', f"{B / video_step:.1f} samples/s "
         f"({video_step:.2f} s per batch: decode {B} x {1e3 * res['decode_per_video']:.0f} ms "
         f"+ encoder and step {res['train_encoded']:.2f} s; encoder: {res['encoder']})"),
        (f'Stage-2 epoch of {epoch} samples', f"{epoch / B * res['train_cached'] / 60:.1f} "
         f"min from the cache vs {epoch / B * video_step / 60:.1f} min from videos: "
         f"{video_step / res['train_cached']:.1f}x (target >= 20x with ViT-B/32; decoding "
         f"serial here, dataloader workers would overlap it)"),
    ]


def stage1_rows(args, res):
    B = args.stage1_batch
    return [('Stage-1 training', (
        f"fp32 {B / res['stage1_fp32']:.1f} samples/s, bf16 autocast "
        f"{B / res['stage1_bf16']:.1f} samples/s ({res['stage1_fp32'] / res['stage1_bf16']:.2f}x)"
        f" at batch {B} x "
        f"{args.num_frames} frames of {res['stage1_image_size']}px (encoder: "
        f"{'ViT-B/32' if args.vit_b32 else 'tiny CLIP'}, random weights; forward, backward, "
        f"AdamW)"))]


def write_docs(path, markdown, label, argv):
    """Replace the section of ``label`` in ``path``, naming the command line ``argv``."""
    command = 'python tools/analysis/benchmark_diffusionret.py ' + ' '.join(
        f'"{arg}"' if ' ' in arg else arg for arg in argv)
    replace_docs_section(path, DOCS_MARK, label, command, markdown)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_description()
    results = {}
    if 'eval' not in args.skip:
        run_evaluation(args, results)
    if 'train' not in args.skip:
        run_training(args, results)
    if args.stage1_train:
        run_stage1_training(args, results)
    text, markdown = report(args, machine, results)
    print(text)
    if args.docs:
        label = args.docs_label or f'{torch.get_num_threads()} torch thread(s)'
        write_docs(args.docs, markdown, label, sys.argv[1:] if argv is None else argv)
        print(f'wrote {args.docs}')
    return results


if __name__ == '__main__':
    main()
