"""tools/data/make_demo_dataset.py --format: the demo data written in each dataset's official
files is read by that dataset's class, as its base config (configs/_base_/datasets) sets it up,
into the expected videos and texts, and a tiny stage-1 run trains 2 iterations on it."""
import math
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import mmdret.datasets
from mmdret.datasets import BaseRetrievalDataset, demo
from mmdret.registry import DATASETS
from mmdret.utils import register_all_modules
from tool_loader import load_module, load_tool

ROOT = Path(__file__).parents[2]
TINY = dict(seed=0, train_per_combination=1, captions_per_video=2, test_groups=1, size=32,
            fps=2, num_frames=8)
NUM_TRAIN, NUM_TEST = 144, 4  # 144 attribute combinations; 1 test group of 4 directions
TRAIN_ITEMS = 16  # 2 iterations of 8 (one random caption per video)
# Format -> (its base dataset config, the texts of a video in training, in testing): 'all'
# its captions, 'first' its first caption, 'paragraph' its captions as one paragraph.
FORMATS = {
    'msrvtt': ('msrvtt_9k_1ka', 'all', 'first'),  # JSFusion test: one caption per video
    'lsmdc': ('lsmdc', 'all', 'first'),  # public test: one sentence per clip
    'msvd': ('msvd', 'all', 'all'),
    'vatex': ('vatex', 'all', 'all'),
    'activitynet': ('activitynet', 'paragraph', 'paragraph'),
    'didemo': ('didemo', 'paragraph', 'paragraph'),
    'charades': ('charades', 'first', 'first'),  # one script per video
}


# tests/ is not a package: the integration tests' helpers are imported by path.
utils = load_module(ROOT / 'tests/integration/integration_utils.py', 'integration_utils')
mdd = load_tool('data', 'make_demo_dataset.py')


def texts_of(clip, kind):
    if kind == 'all':
        return list(clip.captions)
    if kind == 'first':
        return [clip.captions[0]]
    return [' '.join(clip.captions)]


def normalised(texts):
    return [' '.join(text.split()) for text in texts]  # ActivityNet joins ' '-led sentences


@pytest.fixture(scope='module')
def clips():
    """The clips every format writes (planned from the same seed)."""
    return demo.plan_clips(np.random.default_rng(TINY['seed']), TINY['train_per_combination'],
                           TINY['captions_per_video'], TINY['test_groups'], TINY['size'])


def test_formats_cover_the_dataset_classes():
    assert set(mdd.FORMATS) == set(FORMATS)
    # Every video-reading dataset class of mmdret has a format (through its base config).
    classes = {cls.__name__ for cls in vars(mmdret.datasets).values()
               if isinstance(cls, type) and issubclass(cls, BaseRetrievalDataset)
               and DATASETS.get(cls.__name__) is cls}
    types = {Config.fromfile(str(ROOT / f'configs/_base_/datasets/{base}.py')).dataset_type
             for base, _, _ in FORMATS.values()}
    assert types == classes and len(classes) == 7
    with pytest.raises(ValueError, match='dataset_format must be one of'):
        mdd.make_demo_dataset('unused', dataset_format='kinetics')


def test_cli_format_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    summary = mdd.main(['--format', 'charades', '--train-per-combination', '1',
                        '--test-groups', '1', '--captions-per-video', '1', '--size', '16',
                        '--num-frames', '2'])
    assert summary['out_dir'] == Path('data/demo_charades')  # data/demo_<format> by default
    assert (tmp_path / 'data/demo_charades/annotations/Charades_v1_test.csv').is_file()
    assert 'Wrote 144 train and 4 test videos' in capsys.readouterr().out
    assert mdd.parse_args([]).format == 'msrvtt'


@pytest.mark.parametrize('name', list(FORMATS))
def test_format_is_read_by_its_dataset_and_trains(name, clips, tmp_path):
    register_all_modules()
    base, train_kind, test_kind = FORMATS[name]
    data_root = tmp_path / name
    summary = mdd.make_demo_dataset(data_root, dataset_format=name, **TINY)
    assert (summary['num_train'], summary['num_test']) == (NUM_TRAIN, NUM_TEST)
    assert len(summary['video_files']) == NUM_TRAIN + NUM_TEST
    assert all((data_root / 'videos' / f).is_file() for f in summary['video_files'])

    # The base config's datasets, on the generated folder: every listed video exists
    # (missing_video_policy 'raise'), the texts are the clips' captions, in order.
    base_cfg = Config.fromfile(str(ROOT / f'configs/_base_/datasets/{base}.py'))
    datasets = {}
    for split, kind, split_clips in (('train', train_kind, clips[:NUM_TRAIN]),
                                     ('val', test_kind, clips[NUM_TRAIN:])):
        cfg = base_cfg[f'{split}_dataloader']['dataset']
        dataset = DATASETS.build(dict(cfg, data_root=str(data_root), pipeline=[]))
        expected = [normalised(texts_of(clip, kind)) for clip in split_clips]
        num_texts = sum(map(len, expected))
        if cfg.get('test_mode'):
            assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (
                NUM_TEST, num_texts, NUM_TEST)
            got = [normalised(dataset.get_data_info(i)['texts']) for i in range(len(dataset))]
            assert got == expected
        else:  # one pair per text
            assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (
                NUM_TRAIN, num_texts, num_texts)
            got = [text for i in range(len(dataset))
                   for text in normalised(dataset.get_data_info(i)['texts'])]
            assert got == [text for texts in expected for text in texts]
        datasets[split] = cfg

    # A tiny stage-1 run (the integration tests' tiny demo config) on this format, 2 iterations,
    # no validation.
    work_dir = tmp_path / 'work'
    config = utils.write_config(tmp_path / f'tiny_stage1_{name}.py', data_root, work_dir)
    cfg = Config.fromfile(str(config))
    cfg.train_dataloader.dataset = dict(
        datasets['train'], data_root=str(data_root), pipeline=cfg.pipeline,
        caption_sampling='random', indices=TRAIN_ITEMS)
    for stage in ('val', 'test'):
        cfg[f'{stage}_dataloader'] = cfg[f'{stage}_cfg'] = cfg[f'{stage}_evaluator'] = None
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == TRAIN_ITEMS // 8
    records = [r for r in utils.read_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in records] == [1, 2]
    assert all(math.isfinite(r['loss']) and r['loss'] > 0 for r in records)
