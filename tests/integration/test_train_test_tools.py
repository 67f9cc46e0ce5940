"""tools/train.py and tools/test.py end to end on the tiny demo data: stage 1 trains and writes a
checkpoint, the test tool returns and writes the metrics, stage 2 trains only the denoisers from
the stage-1 checkpoint and logs its generation losses."""
import json
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdret.utils.safe_load import load_checkpoint_file

from .integration_utils import (METRIC_KEYS, NUM_TEST_VIDEOS, ROOT, TRAIN_ITEMS, read_logs,
                                read_scalars)

TRAIN_ITERS = TRAIN_ITEMS // 8  # caption_sampling='random': one item per video, batch 8


def train_records(scalars):
    return [r for r in scalars if 'loss' in r]


def test_stage1_train_tool_trains_one_epoch_and_writes_checkpoint(stage1_run):
    runner = stage1_run['runner']
    assert runner.epoch == 1
    assert runner.iter == TRAIN_ITERS
    assert stage1_run['checkpoint'].is_file()
    # Weights-only, with mmdret's allow-list of the globals in mmengine checkpoints.
    checkpoint = load_checkpoint_file(stage1_run['checkpoint'])
    assert checkpoint['meta']['epoch'] == 1 and checkpoint['meta']['iter'] == TRAIN_ITERS
    state = checkpoint['state_dict']
    assert any(k.startswith('encoder.clip.visual.') for k in state)
    assert any(k.startswith('similarity_head.') for k in state)
    assert not any(k.startswith('reranker.') for k in state)
    # The checkpoint holds the weights the runner ended with.
    final = runner.model.state_dict()
    assert all(torch.equal(state[k], final[k]) for k in final)

    records = train_records(read_scalars(stage1_run['work_dir']))
    assert [r['iter'] for r in records] == list(range(1, TRAIN_ITERS + 1))
    assert all(math.isfinite(r['loss_contrastive']) for r in records)
    # An untrained model is near chance: symmetric InfoNCE over a batch of 8 is ~ln 8 (2.08),
    # far from ln 4 or ln 16 (other batch sizes).
    assert records[0]['loss_contrastive'] == pytest.approx(math.log(8), abs=0.3)
    # The official schedule's first update uses lr 0 (warm-up from 0).
    assert records[0]['lr'] == 0.0 and records[1]['lr'] > 0


def test_test_tool_returns_and_writes_metrics(tools, stage1_run, tmp_path):
    out = tmp_path / 'metrics.json'
    metrics = tools.test.main([str(stage1_run['config']), str(stage1_run['checkpoint']),
                               '--work-dir', str(tmp_path / 'work'), '--out-metrics', str(out)])
    assert set(METRIC_KEYS) <= set(metrics)
    assert json.loads(out.read_text()) == metrics
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS
    assert metrics['retrieval/v2t_num_queries'] == NUM_TEST_VIDEOS
    assert metrics['retrieval/corrupt_videos'] == 0
    recalls = [metrics[f'retrieval/{d}_R{k}'] for d in ('t2v', 'v2t') for k in (1, 5, 10)]
    assert metrics['retrieval/Rsum'] == pytest.approx(sum(recalls))
    for direction in ('t2v', 'v2t'):
        r1, r5, r10 = (metrics[f'retrieval/{direction}_R{k}'] for k in (1, 5, 10))
        assert 0 <= r1 <= r5 <= r10 <= 100
        # 12 queries: every recall is a whole number of queries.
        assert all(abs(r * NUM_TEST_VIDEOS / 100 - round(r * NUM_TEST_VIDEOS / 100)) < 1e-9
                   for r in (r1, r5, r10))
        assert 1 <= metrics[f'retrieval/{direction}_MdR'] <= NUM_TEST_VIDEOS
        assert 1 <= metrics[f'retrieval/{direction}_MnR'] <= NUM_TEST_VIDEOS
    # The validation at the end of training scored the same weights on the same split.
    val = [r for r in read_scalars(stage1_run['work_dir']) if 'retrieval/Rsum' in r]
    assert len(val) == 1
    assert {k: val[0][k] for k in METRIC_KEYS} == pytest.approx(
        {k: metrics[k] for k in METRIC_KEYS})


def test_stage2_trains_only_the_denoisers(stage1_run, stage2_run, tmp_path):
    runner = stage2_run['runner']
    assert runner.epoch == 1 and runner.iter == TRAIN_ITERS
    assert 'Load checkpoint from' in read_logs(stage2_run['work_dir'])
    stage1 = load_checkpoint_file(stage1_run['checkpoint'])
    stage2 = load_checkpoint_file(stage2_run['checkpoint'])
    s1, s2 = stage1['state_dict'], stage2['state_dict']
    frozen = [k for k in s2 if not k.startswith('reranker.')]
    assert sorted(frozen) == sorted(s1)
    changed = [k for k in frozen if not torch.equal(s1[k], s2[k])]
    assert changed == [], f'stage 2 changed stage-1 weights: {changed[:5]}'

    # The denoisers' initial weights: the same config built by a Runner with the same seed.
    cfg = Config.fromfile(str(stage2_run['config']))
    cfg.work_dir = str(tmp_path / 'init')
    cfg.load_from = None
    cfg.custom_hooks = []
    cfg.experiment_name = 'stage2_initial_weights'
    init_runner = Runner.from_cfg(cfg)
    init_runner.model.init_weights()  # as Runner.train does before loading load_from
    initial = init_runner.model.state_dict()
    reranker = [k for k in s2 if k.startswith('reranker.')]
    assert reranker and all(k in initial for k in reranker)
    moved = {k for k in reranker if not torch.equal(initial[k], s2[k])}
    # Exactly the denoisers' parameters trained (and only they reach the optimizer).
    trainable = {n for n, p in runner.model.named_parameters() if p.requires_grad}
    assert moved == trainable
    assert any('t2v_denoiser' in k for k in moved) and any('v2t_denoiser' in k for k in moved)
    # ... by Adam steps from those initial weights: no element moved more than a few times the
    # summed lr (a different initialisation would differ by the init scale everywhere).
    lr_sum = sum(r['lr'] for r in train_records(read_scalars(stage2_run['work_dir'])))
    max_change = max((s2[k] - initial[k]).abs().max().item() for k in moved)
    assert 0 < max_change <= 3 * lr_sum
    optim_state = stage2['optimizer']['state']
    assert len(optim_state) == len(trainable)


def test_stage2_logs_generation_losses(stage2_run):
    records = train_records(read_scalars(stage2_run['work_dir']))
    assert [r['iter'] for r in records] == list(range(1, TRAIN_ITERS + 1))
    for record in records:
        t2v, v2t = record['loss_generation_t2v'], record['loss_generation_v2t']
        assert math.isfinite(t2v) and math.isfinite(v2t) and t2v > 0 and v2t > 0
        # The total is the generation losses; the frozen contrastive loss is logged only.
        assert record['loss'] == pytest.approx(t2v + v2t, rel=1e-5)
        assert 'contrastive' in record
    log = read_logs(stage2_run['work_dir'])
    assert 'loss_generation_t2v' in log and 'loss_generation_v2t' in log


@pytest.mark.parametrize('name', [
    'diffusionret_stage2_tiny_1xb64-demo.py',
    'diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'])
def test_stage2_configs_load(name):
    # Regression: both once listed two _base_ files defining `model` and `custom_hooks`
    # ("Duplicate key is not allowed among bases").
    cfg = Config.fromfile(str(ROOT / 'configs' / 'diffusionret' / name))
    assert cfg.model.reranker.type == 'DiffusionReranker'
    assert cfg.model.encoder.type == 'CLIPTextFrameEncoder'
    assert 'RequireLoadFromHook' in [h['type'] for h in cfg.custom_hooks]
