"""configs/mmaction_mix/clip4clip_msrvtt_with_mmdret_diffusionret.py: mmaction2's CLIP4Clip
config with mmdret's model, data, loops and metric swapped in (``type='mmdret.X'``) under
mmaction's ``default_scope``; it loads, and a Runner built from it trains and tests."""
import copy
import importlib.util
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from .integration_utils import METRIC_KEYS, NUM_TEST_VIDEOS, ROOT

CONFIG = ROOT / 'configs/mmaction_mix/clip4clip_msrvtt_with_mmdret_diffusionret.py'
BASE = 'retrieval/clip4clip/clip4clip_vit-base-p32-res224-clip-pre_8xb16-u12-5e_msrvtt-9k-rgb.py'


def mmaction_config(name):
    package = Path(importlib.util.find_spec('mmaction').origin).parent
    return Config.fromfile(str(package / '.mim' / 'configs' / name))


def unscoped(value):
    """``value`` without the ``_scope_`` keys mmengine adds to dicts of a ``scope::`` base."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(unscoped(v) for v in value)
    return value


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(str(CONFIG))


def test_config_loads_with_mmaction_base(cfg):
    base = mmaction_config(BASE)
    assert cfg.default_scope == base.default_scope == 'mmaction'
    assert cfg.custom_imports == dict(imports=['mmdret'], allow_failed_imports=False)
    # Kept from mmaction2: runtime, optimizer, schedule and train loop.
    for key in ('default_hooks', 'env_cfg', 'log_processor', 'visualizer', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'auto_scale_lr'):
        assert unscoped(cfg[key]) == unscoped(base[key]), key
    assert cfg.visualizer.type == 'ActionVisualizer'
    # Swapped in: mmdret's components, nothing of CLIPSimilarity left (model _delete_).
    model = cfg.model
    assert model.type == 'mmdret.DiffusionRet'
    assert not {'clip_arch', 'adapter', 'to_float32', 'frozen_layers'} & set(model)
    assert model.encoder.type == 'mmdret.CLIPTextFrameEncoder'
    assert model.encoder.arch == 'ViT-B-32' and 'pretrained' in model.encoder
    assert model.similarity_head.type == 'mmdret.WTISimilarityHead'
    assert model.data_preprocessor.type == 'mmdret.RetrievalDataPreprocessor'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type == 'mmdret.MSRVTTRetrievalDataset'
        assert [t['type'] for t in dataset.pipeline] == [
            'mmdret.LoadVideoFrames', 'Resize', 'CenterCrop', 'mmdret.TokenizeCaptions',
            'mmdret.PackRetrievalInputs']
    assert cfg.train_dataloader.dataset.ann_file.endswith('MSRVTT_train.9k.csv')
    assert cfg.train_dataloader.dataset.sentences_file.endswith('MSRVTT_data.json')
    assert cfg.test_dataloader.dataset.ann_file.endswith('MSRVTT_JSFUSION_test.csv')
    assert cfg.test_dataloader.dataset.test_mode
    assert cfg.val_cfg.type == 'mmdret.RetrievalValLoop'
    assert cfg.test_cfg.type == 'mmdret.RetrievalTestLoop'
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'mmdret.TextVideoRetrievalMetric'


def tiny(cfg, data_root, work_dir):
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict({
        'work_dir': str(work_dir),
        'model.encoder.arch': 'tiny-64', 'model.encoder.temporal_layers': 1,
        'model.encoder.temporal_heads': 2, 'model.encoder.freeze_patch_embed': False,
        'model.similarity_head.embed_dim': 64, 'model.similarity_head.hidden_dim': 128,
        'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1,
        'env_cfg.dist_cfg.backend': 'gloo'})
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    pipeline[0].update(max_frames=4)
    pipeline[1].update(scale=(-1, 32))
    pipeline[2].update(crop_size=32)
    pipeline[4].update(max_frames=4)
    for loader, batch_size in (('train_dataloader', 8), ('val_dataloader', 4),
                               ('test_dataloader', 4)):
        cfg[loader].update(batch_size=batch_size, num_workers=0, persistent_workers=False)
        cfg[loader].dataset.update(data_root=str(data_root), pipeline=pipeline)
    cfg.train_dataloader.dataset.indices = 16  # 2 iterations of 8
    return cfg


def test_runner_from_mix_config_trains_and_tests(cfg, demo_data, tmp_path):
    import mmaction.datasets.transforms as mmaction_transforms
    import torch
    from mmengine.hooks import SyncBuffersHook
    from mmengine.optim import OptimWrapper
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
    from mmengine.runner import EpochBasedTrainLoop

    from mmdret.datasets import MSRVTTRetrievalDataset
    from mmdret.datasets.transforms import (LoadVideoFrames, PackRetrievalInputs,
                                            TokenizeCaptions)
    from mmdret.engine.runner.retrieval_loop import RetrievalTestLoop, RetrievalValLoop
    from mmdret.evaluation.metrics.text_video_retrieval_metric import TextVideoRetrievalMetric
    from mmdret.models.retrievers.diffusion_ret import DiffusionRet

    runner = Runner.from_cfg(tiny(cfg, demo_data['out_dir'], tmp_path / 'work'))
    runner.train()
    assert runner.iter == 2 and runner.epoch == 1
    metrics = runner.test()
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS

    # mmdret's components ...
    assert type(runner.model) is DiffusionRet
    dataset = runner.train_dataloader.dataset
    assert type(dataset) is MSRVTTRetrievalDataset
    transforms = [type(t) for t in dataset.pipeline.transforms]
    assert transforms[0] is LoadVideoFrames and transforms[3] is TokenizeCaptions
    assert transforms[4] is PackRetrievalInputs
    assert type(runner.val_loop) is RetrievalValLoop
    assert type(runner.test_loop) is RetrievalTestLoop
    assert type(runner.test_loop.evaluator.metrics[0]) is TextVideoRetrievalMetric
    # ... and mmaction2's / mmengine's where the config leaves them unprefixed.
    assert transforms[1] is mmaction_transforms.Resize
    assert transforms[2] is mmaction_transforms.CenterCrop
    assert type(runner.optim_wrapper) is OptimWrapper
    assert type(runner.optim_wrapper.optimizer) is torch.optim.AdamW
    assert [type(s) for s in runner.param_schedulers] == [LinearLR, CosineAnnealingLR]
    assert type(runner.train_loop) is EpochBasedTrainLoop
    assert type(runner.visualizer).__module__.startswith('mmaction.')
    assert any(type(h) is SyncBuffersHook for h in runner.hooks)
    # mmaction's paramwise_cfg reached the optimizer: no decay on norms and biases.
    decays = {g['weight_decay'] for g in runner.optim_wrapper.optimizer.param_groups}
    assert decays == {0.0, 0.05}


@pytest.mark.parametrize('drop', ['contrastive_loss', 'reranker defaults'])
def test_mmdret_defaults_build_under_mmaction_scope(cfg, drop):
    import mmdret  # noqa: F401
    from mmengine.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.encoder.update(arch='tiny-64', temporal_layers=1, temporal_heads=2)
    model_cfg.similarity_head.update(embed_dim=64, hidden_dim=128)
    if drop == 'contrastive_loss':
        del model_cfg['contrastive_loss']
    else:
        model_cfg['reranker'] = dict(type='mmdret.DiffusionReranker')
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(model_cfg)
    assert type(model.contrastive_loss).__name__ == 'SymmetricInfoNCELoss'
