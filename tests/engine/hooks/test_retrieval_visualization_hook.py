"""RetrievalVisualizationHook in real mmengine Runners (test and val loops, 1 and 2 gloo
processes, and through tools/analysis/plot_retrieval.py) over a synthetic stage-1 feature cache
and a tiny stage-2 DiffusionRet: the PNGs exist with the expected sizes, their saved data equal
the model's scores, ranks and trajectories, and the hook leaves the evaluation results
unchanged."""
import faulthandler
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from mmdret.engine.hooks import RetrievalVisualizationHook
from mmdret.evaluation.functional import extract_features, ground_truth_ranks
from mmdret.utils import register_all_modules
from mmdret.utils.feature_cache import CACHE_FORMAT, CACHE_FORMAT_VERSION
from tool_loader import load_tool

register_all_modules()

ROOT = Path(__file__).parents[3]
WIDTH, WORDS, FRAMES = 64, 6, 4
CAPTIONS_PER_VIDEO = [2, 1, 1, 2, 1, 1, 2]  # 7 videos, 10 captions
STEPS, TOPK, BLOCK, TRAJECTORIES = 3, 4, 5, 2
PNG_SIZES = dict(heatmap=(600, 500), rank_histogram=(600, 400), trajectory=(600, 400))


def write_feature_cache(path):
    """A test-split cache as ``tools/extract_features.py`` writes it: captions close to their
    video's mean frame, so retrieval is better than chance but not perfect."""
    gen = torch.Generator().manual_seed(0)
    video_index = torch.repeat_interleave(torch.arange(len(CAPTIONS_PER_VIDEO)),
                                          torch.tensor(CAPTIONS_PER_VIDEO))
    frames = torch.randn(len(CAPTIONS_PER_VIDEO), FRAMES, WIDTH, generator=gen)
    tokens = (frames.mean(1)[video_index, None] +
              torch.randn(len(video_index), WORDS, WIDTH, generator=gen))
    token_mask = (torch.arange(WORDS) < 3 + torch.arange(len(video_index))[:, None] % 3).long()
    meta = dict(format=CACHE_FORMAT, format_version=CACHE_FORMAT_VERSION, split='test',
                fingerprint='0' * 40)
    torch.save(dict(
        meta=meta,
        texts=dict(caption=[f'caption {i}' for i in range(len(video_index))],
                   tokens=tokens * token_mask[..., None], token_mask=token_mask,
                   eot=tokens[:, 0], video_index=video_index),
        videos=dict(video_id=[f'video{v}' for v in range(len(CAPTIONS_PER_VIDEO))],
                    frames=frames, frame_mask=torch.ones(len(frames), FRAMES, dtype=torch.long),
                    corrupt=torch.zeros(len(frames), dtype=torch.bool))), path)
    return path


def runner_cfg(cache, work_dir, hook=None):
    dataloader = dict(
        batch_size=3, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='CachedFeatureDataset', feature_file=str(cache), test_mode=True))
    loop = dict(query_chunk_size=3)
    return dict(
        model=dict(
            type='DiffusionRet',
            encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=1,
                         temporal_heads=2),
            similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH, hidden_dim=WIDTH),
            reranker=dict(type='DiffusionReranker',
                          t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
                          v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
                          scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
                          num_inference_steps=STEPS, topk=TOPK)),
        work_dir=str(work_dir), default_scope='mmdret',
        # Runners built within the same second would share one visualizer (and its save_dir):
        # mmengine names it after a timestamp unless the experiment is named.
        experiment_name=f'vis_hook_{uuid.uuid4().hex}',
        test_dataloader=dataloader, test_cfg=dict(type='RetrievalTestLoop', **loop),
        test_evaluator=dict(type='TextVideoRetrievalMetric'),
        val_dataloader=dataloader, val_cfg=dict(type='RetrievalValLoop', **loop),
        val_evaluator=dict(type='TextVideoRetrievalMetric'),
        custom_hooks=[] if hook is None else [hook],
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]),
        randomness=dict(seed=0))


def build_runner(cache, work_dir, hook=None):
    return Runner.from_cfg(Config(runner_cfg(cache, work_dir, hook)))


def hook_cfg(**kwargs):
    return dict(dict(type='RetrievalVisualizationHook', block_size=BLOCK,
                     num_trajectories=TRAJECTORIES), **kwargs)


def reference(runner):
    """The full score matrices and ranks of the runner's model, computed here directly."""
    model = runner.model.eval()
    features = extract_features(model, runner.test_dataloader)
    text, video = features['text'], features['video']
    with torch.no_grad():
        scores = dict(t2v=model.score('t2v', text, video), v2t=model.score('v2t', video, text))
        stage1 = model.similarity_head.similarity(text, video)
    positives = text['video_index'][:, None] == video['index'][None]
    positives = dict(t2v=positives, v2t=positives.t())
    ranks = {d: ground_truth_ranks(scores[d], positives[d]) for d in scores}
    return dict(scores=scores, ranks=ranks, positives=positives,
                stage1=dict(t2v=stage1, v2t=stage1.t()))


def check_png(path, size):
    with Image.open(path) as image:
        assert image.format == 'PNG' and image.size == size, (path, image.size)
        assert np.asarray(image.convert('L')).std() > 0


def expected_files(direction):
    names = [f'heatmap_{direction}.png', f'heatmap_{direction}.npy',
             f'rank_histogram_{direction}.png', f'rank_histogram_{direction}.npy']
    for query in range(TRAJECTORIES):
        names += [f'trajectory_{direction}_{query}.png', f'trajectory_{direction}_{query}.npz']
    return names


def check_outputs(out_dir, ref):
    assert sorted(os.listdir(out_dir)) == sorted(expected_files('t2v') + expected_files('v2t'))
    for path in Path(out_dir).glob('*.png'):
        check_png(path, next(size for kind, size in PNG_SIZES.items()
                             if path.name.startswith(kind)))
    for direction in ('t2v', 'v2t'):
        block = np.load(out_dir / f'heatmap_{direction}.npy')
        torch.testing.assert_close(torch.from_numpy(block),
                                   ref['scores'][direction][:BLOCK, :BLOCK])
        ranks = np.load(out_dir / f'rank_histogram_{direction}.npy')
        assert torch.equal(torch.from_numpy(ranks), ref['ranks'][direction])
        for query in range(TRAJECTORIES):
            data = np.load(out_dir / f'trajectory_{direction}_{query}.npz')
            dist_steps = torch.from_numpy(data['distributions'])
            assert dist_steps.shape == (STEPS, TOPK)
            torch.testing.assert_close(dist_steps.sum(1), torch.ones(STEPS))
            # The shortlist is the stage-1 top-k, the ground truth marked among it.
            candidates = torch.from_numpy(data['candidates'])
            assert torch.equal(candidates, ref['stage1'][direction][query].topk(TOPK).indices)
            assert torch.equal(torch.from_numpy(data['positives']),
                               ref['positives'][direction][query, candidates])
            # The last step is the distribution whose alpha (1) multiple re-ranked the scores.
            boost = (ref['scores'][direction][query] - ref['stage1'][direction][query])[candidates]
            torch.testing.assert_close(dist_steps[-1], boost)


def test_test_run_writes_figures_of_the_models_scores(tmp_path):
    cache = write_feature_cache(tmp_path / 'test.pth')
    plain = build_runner(cache, tmp_path / 'plain').test()
    runner = build_runner(cache, tmp_path / 'work', hook_cfg())
    metrics = runner.test()
    assert metrics == plain  # recording changes no result
    assert runner.model.reranker.trajectory_observer is None  # released after the epoch
    check_outputs(tmp_path / 'work/vis/test', reference(runner))
    # The visualizer's backends get the same images.
    saved = sorted(p.name for p in (tmp_path / 'work').glob('*/vis_data/vis_image/*.png'))
    assert 'retrieval_heatmap_t2v_0.png' in saved and 'retrieval_trajectory_v2t_1_0.png' in saved
    assert len(saved) == 2 * (2 + TRAJECTORIES)


def test_val_interval_out_dir_and_options(tmp_path):
    cache = write_feature_cache(tmp_path / 'test.pth')
    out = tmp_path / 'figures'
    runner = build_runner(cache, tmp_path / 'work',
                          hook_cfg(interval=2, out_dir=str(out), save_arrays=False,
                                   add_to_visualizer=False, num_trajectories=0))
    runner.val()
    assert not out.exists()  # first validation skipped by interval=2
    runner.val()
    assert sorted(os.listdir(out / 'epoch_0')) == [
        'heatmap_t2v.png', 'heatmap_v2t.png', 'rank_histogram_t2v.png', 'rank_histogram_v2t.png']
    assert not list((tmp_path / 'work').glob('*/vis_data/vis_image/*.png'))
    with pytest.raises(ValueError):
        RetrievalVisualizationHook(block_size=0)


def _worker(rank, tmp, result):
    torch.set_num_threads(1)  # forked children must not enter the parent's OpenMP pool
    faulthandler.dump_traceback_later(120, exit=True)
    os.chdir(tmp)  # mmengine's result collection writes .dist_test into the working directory
    register_all_modules()
    dist.init_process_group('gloo', init_method=f'file://{tmp}/init', rank=rank, world_size=2)
    try:
        metrics = build_runner(Path(tmp) / 'test.pth', Path(tmp) / f'rank{rank}',
                               hook_cfg()).test()
        if rank == 0:
            torch.save(metrics, result)
    finally:
        dist.destroy_process_group()


def test_two_processes_write_on_rank0_the_same_figures(tmp_path):
    cache = write_feature_cache(tmp_path / 'test.pth')
    # fork: the workers inherit the imported modules (spawn would re-import mmaction)
    mp.start_processes(_worker, args=(str(tmp_path), str(tmp_path / 'metrics.pth')), nprocs=2,
                       start_method='fork')
    assert not (tmp_path / 'rank1/vis').exists()
    single = build_runner(cache, tmp_path / 'single')
    assert torch.load(tmp_path / 'metrics.pth') == single.test()
    check_outputs(tmp_path / 'rank0/vis/test', reference(single))


def test_plot_retrieval_tool(tmp_path):
    cache = write_feature_cache(tmp_path / 'test.pth')
    runner = build_runner(cache, tmp_path / 'reference')
    with torch.no_grad():  # weights the config's seed does not give: the checkpoint must load
        for param in runner.model.parameters():
            param.mul_(2)
    checkpoint = tmp_path / 'model.pth'
    torch.save(dict(state_dict=runner.model.state_dict()), checkpoint)
    config = tmp_path / 'config.py'
    # The config's own hook is replaced by the tool's (its folder and sizes).
    Config(runner_cfg(cache, tmp_path / 'unused', hook_cfg(block_size=2))).dump(config)
    tool = load_tool('analysis', 'plot_retrieval.py')
    out = tmp_path / 'figures'
    paths = tool.main([str(config), str(checkpoint), '--out-dir', str(out), '--num-queries',
                       str(BLOCK), '--num-trajectories', str(TRAJECTORIES)])
    assert len(paths) == 2 * (2 + TRAJECTORIES) and not (tmp_path / 'unused').exists()
    check_outputs(out / 'test', reference(runner))
