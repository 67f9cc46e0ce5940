"""Shared fixtures of the integration tests: a tiny demo dataset (session-wide), the tools as
modules, and stage-1/stage-2 checkpoints trained once by ``tools/train.py``."""
import pytest

from tool_loader import load_tool

from .integration_utils import NUM_TEST_VIDEOS, TRAIN_ITEMS, write_config


@pytest.fixture(scope='session')
def tools():
    """``tools/train.py`` and ``tools/test.py`` as modules (their ``main(argv)``)."""

    class Tools:
        train = load_tool('train.py')
        test = load_tool('test.py')

    return Tools


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """144 train videos (2 captions each) and 12 test videos of 32x32 pixels, 8 frames, 2 fps."""
    make = load_tool('data', 'make_demo_dataset.py')
    out = tmp_path_factory.mktemp('demo_data') / 'msrvtt'
    summary = make.make_demo_dataset(out, seed=0, train_per_combination=1,
                                     captions_per_video=2, test_groups=3, size=32, fps=2,
                                     num_frames=8)
    assert summary['num_test'] == NUM_TEST_VIDEOS
    return summary


@pytest.fixture(scope='session')
def stage1_run(tools, demo_data, tmp_path_factory):
    """``tools/train.py`` on the tiny stage-1 config for 1 epoch (session-wide, trained once)."""
    tmp = tmp_path_factory.mktemp('stage1')
    cfg = write_config(tmp / 'tiny_stage1.py', demo_data['out_dir'], tmp / 'work',
                       train_items=TRAIN_ITEMS)
    runner = tools.train.main([str(cfg)])
    checkpoint = tmp / 'work' / 'epoch_1.pth'
    return dict(config=cfg, work_dir=tmp / 'work', checkpoint=checkpoint, runner=runner,
                tmp=tmp)


@pytest.fixture(scope='session')
def stage2_run(tools, demo_data, stage1_run, tmp_path_factory):
    """``tools/train.py`` on the tiny stage-2 config from the stage-1 checkpoint, 1 epoch."""
    tmp = tmp_path_factory.mktemp('stage2')
    cfg = write_config(tmp / 'tiny_stage2.py', demo_data['out_dir'], tmp / 'work', stage=2,
                       train_items=TRAIN_ITEMS)
    runner = tools.train.main([str(cfg), '--cfg-options',
                               f'load_from={stage1_run["checkpoint"]}'])
    return dict(config=cfg, work_dir=tmp / 'work', checkpoint=tmp / 'work' / 'epoch_1.pth',
                runner=runner, tmp=tmp)
