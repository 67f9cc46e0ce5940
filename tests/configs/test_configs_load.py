"""Every config under configs/ loads, its datasets resolve in the mmdret registry, and the configs
that repeat a block (mmengine cannot merge two bases defining the same key) stay in sync."""
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdret.registry import DATASETS, TASK_UTILS
from mmdret.utils import register_all_modules

register_all_modules()

CONFIGS = Path(__file__).parents[2] / 'configs'
ALL_CONFIGS = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob('*.py'))
DATASET_NAMES = ('lsmdc', 'msvd', 'activitynet', 'didemo', 'vatex', 'charades')
PARAGRAPH = ('activitynet', 'didemo')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Loader layouts shared by the dataset bases, which add the dataset type and files.
LAYOUT_BASES = ('_base_/datasets/video_retrieval.py', '_base_/datasets/paragraph_retrieval.py',
                '_base_/datasets/retrieval_pipelines.py', '_base_/models/diffusionret_reranker.py')


def load(name):
    return Config.fromfile(str(CONFIGS / name))


def datasets_of(cfg):
    """(loader, dataset cfg) pairs, following dataset wrappers' inner ``dataset``."""
    for loader in LOADERS:
        dataset = (cfg.get(loader) or {}).get('dataset')
        while dataset is not None:
            yield loader, dataset
            dataset = dataset.get('dataset') if isinstance(dataset, dict) else None


def post_processors_of(cfg):
    for loop in ('val_cfg', 'test_cfg'):
        post = (cfg.get(loop) or {}).get('post_processor')
        if post is not None:
            yield from ([post] if 'type' in post else [p for p in post.values() if p])


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_loads_and_dataset_types_resolve(name):
    cfg = load(name)
    for loader, dataset in datasets_of(cfg):
        if name in LAYOUT_BASES:
            assert 'type' not in dataset and 'data_root' not in dataset
            continue
        assert DATASETS.get(dataset['type']) is not None, \
            f'{name}: {loader} dataset type {dataset["type"]!r} is not registered'
    for post in post_processors_of(cfg):
        assert TASK_UTILS.get(post['type']) is not None, post['type']
        bank = (post.get('query_bank') or {}).get('dataloader')
        if bank is not None:
            assert DATASETS.get(bank['dataset']['type']) is not None


def test_post_processing_configs():
    dsl = load('diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k_dsl.py')
    assert dsl.test_cfg.type == 'RetrievalTestLoop'
    assert dsl.test_cfg.post_processor == dict(type='DualSoftmax', temperature=100.0)
    qbn = load('diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k_qb-norm.py')
    assert qbn.val_cfg.type == 'RetrievalValLoop'
    post = qbn.test_cfg.post_processor
    assert (post.type, post.beta, post.k, post.mode) == ('QueryBankNorm', 20.0, 1, 'dis')
    bank = post.query_bank.dataloader.dataset.to_dict()
    train = qbn.train_dataloader.dataset.to_dict()
    assert bank.pop('indices') == 5000
    assert bank.pop('pipeline') == qbn.test_pipeline
    train.pop('pipeline')
    assert bank == train  # the bank holds training queries


def test_every_dataset_has_configs():
    for key in DATASET_NAMES:
        for name in (f'_base_/datasets/{key}.py',
                     f'diffusionret/diffusionret_stage1_vit-b-32_4xb32-5e_{key}.py',
                     f'diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_{key}.py',
                     f'diffusionret/diffusionret_stage2_vit-b-32_msrvtt-9k_ood-{key}.py'):
            assert name in ALL_CONFIGS


@pytest.mark.parametrize('key', DATASET_NAMES)
def test_dataset_settings(key):
    cfg = load(f'_base_/datasets/{key}.py')
    words, frames = (64, 64) if key in PARAGRAPH else (32, 12)
    for loader in LOADERS:
        pipeline = {t['type']: t for t in cfg[loader].dataset.pipeline}
        assert pipeline['TokenizeCaptions']['max_words'] == words
        assert pipeline['LoadVideoFrames']['max_frames'] == frames
        assert pipeline['PackRetrievalInputs']['max_frames'] == frames
    assert not cfg.train_dataloader.dataset.get('test_mode', False)
    assert cfg.test_dataloader.dataset.test_mode


@pytest.mark.parametrize('key', DATASET_NAMES)
def test_stage2_is_stage1_plus_the_msrvtt_stage2_delta(key):
    msrvtt1 = load('diffusionret/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py').to_dict()
    msrvtt2 = load('diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py').to_dict()
    stage1 = load(f'diffusionret/diffusionret_stage1_vit-b-32_4xb32-5e_{key}.py').to_dict()
    stage2 = load(f'diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_{key}.py').to_dict()
    assert stage2['model'] == msrvtt2['model']  # same model and reranker recipe
    assert stage2['custom_hooks'] == msrvtt2['custom_hooks']
    assert stage2['load_from'].endswith(f'_{key}/best.pth')
    for loader in LOADERS:
        assert stage2[loader] == stage1[loader]
    # stage 1 differs from MSRVTT's only in the data
    skip = set(LOADERS) | {'dataset_type', 'data_root', 'max_words', 'max_frames',
                           'train_pipeline', 'test_pipeline'}
    assert {k: v for k, v in stage1.items() if k not in skip} == \
        {k: v for k, v in msrvtt1.items() if k not in skip}


@pytest.mark.parametrize('key', DATASET_NAMES)
def test_out_of_domain_config(key):
    ood = load(f'diffusionret/diffusionret_stage2_vit-b-32_msrvtt-9k_ood-{key}.py').to_dict()
    msrvtt2 = load('diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py').to_dict()
    target = load(f'_base_/datasets/{key}.py').to_dict()
    assert ood['train_dataloader'] == msrvtt2['train_dataloader']  # trained on MSRVTT
    assert ood['model'] == msrvtt2['model']
    for loader in ('val_dataloader', 'test_dataloader'):
        assert ood[loader]['dataset'] == target['test_dataloader']['dataset']


def test_vit_b16_variant():
    cfg = load('diffusionret/diffusionret_stage1_vit-b-16_4xb32-5e_msrvtt-9k.py')
    assert cfg.model.encoder.arch == 'ViT-B-16'
    assert cfg.model.encoder.pretrained.endswith('ViT-B-16.pt')


DITS_DATASETS = {  # dataset: (non-CLIP lr, T', pooling dropout), the DITS paper's settings
    'msrvtt-9k': (3e-5, 10, 0.3), 'lsmdc': (1e-5, 10, 0.3), 'didemo': (1e-5, 5, 0.4),
    'vatex': (1e-5, 10, 0.3), 'charades': (1e-5, 10, 0.3)}


@pytest.mark.parametrize('key', DITS_DATASETS)
@pytest.mark.parametrize('arch', ['vit-b-32', 'vit-b-16'])
def test_dits_paper_settings(key, arch):
    noclip_lr, steps, dropout = DITS_DATASETS[key]
    cfg = load(f'dits/dits_{arch}_1xb32-5e_{key}.py')
    model = cfg.model
    assert (model.type, model.gap_direction, model.aligner.condition) == ('DITS', 'v-t', 'none')
    assert model.encoder.arch == arch.replace('vit', 'ViT').replace('b', 'B')
    assert model.encoder.pretrained.endswith(f'{model.encoder.arch}.pt')
    assert model.aligner.truncated_steps == steps and model.pooling.dropout == dropout
    assert (model.aligner.depth, model.aligner.num_heads, model.aligner.embed_dim) == (4, 16, 512)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.weight_decay) == ('AdamW', 0.2)
    assert optimizer.lr == pytest.approx(noclip_lr)
    clip_mult = cfg.optim_wrapper.paramwise_cfg.custom_keys['clip.'].lr_mult
    assert optimizer.lr * clip_mult == pytest.approx(1e-5)
    assert cfg.train_dataloader.batch_size == 32 and cfg.train_cfg.max_epochs == 5
    assert cfg.randomness.seed == 24
    for loader in LOADERS:
        load_frames = cfg[loader].dataset.pipeline[0]
        assert (load_frames.type, load_frames.max_frames) == ('LoadVideoFrames', 12)
    xpool = load(f'dits/xpool_vit-b-32_1xb32-5e_{key}.py')
    assert xpool.model.type == 'XPool' and 'aligner' not in xpool.model
    assert xpool.optim_wrapper == cfg.optim_wrapper and xpool.train_dataloader == cfg.train_dataloader


def test_dits_vanilla_configs_chain():
    pretrain = load('dits/dits-vanilla-pretrain_vit-b-32_1xb32-5e_msrvtt-9k.py')
    finetune = load('dits/dits-vanilla-finetune_vit-b-32_1xb32-5e_msrvtt-9k.py')
    assert pretrain.model.variant == finetune.model.variant == 'vanilla'
    assert pretrain.model.vanilla_pretrain and not finetune.model.vanilla_pretrain
    assert pretrain.model.vanilla_scheduler.num_train_timesteps == 10  # paper: T = 10
    assert pretrain.load_from and finetune.load_from
    hooks = [h['type'] for h in finetune.custom_hooks]
    assert hooks == ['LogitScaleClampHook', 'RequireLoadFromHook']


def test_msrvtt_split_and_protocol_variants():
    base = load('_base_/datasets/msrvtt_9k_1ka.py')
    seven = load('_base_/datasets/msrvtt_7k_1ka.py')
    full = load('_base_/datasets/msrvtt_9k_1ka_full-test.py')
    assert seven.train_dataloader.dataset.ann_file.endswith('MSRVTT_train.7k.csv')
    assert seven.val_dataloader == base.val_dataloader
    assert full.test_dataloader.dataset.full_test_captions
    assert full.train_dataloader == base.train_dataloader
    stage1 = load('diffusionret/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-7k.py')
    assert stage1.train_dataloader.dataset.ann_file.endswith('MSRVTT_train.7k.csv')
    stage2 = load('diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k_full-test.py')
    assert stage2.test_dataloader.dataset.full_test_captions
