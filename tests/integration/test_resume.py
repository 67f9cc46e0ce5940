"""Resuming with tools/train.py: a 2-epoch schedule interrupted after epoch 1 and resumed
(``--resume``, auto) ends exactly where the uninterrupted 2-epoch run ends.

Resuming loads an mmengine checkpoint (message hub with ``HistoryBuffer``, numpy values) with
torch>=2.6's ``weights_only=True`` default, which works only with mmdret's allow-list
(mmdret/compat.py, open-mmlab/mmengine#1655).

Training uses ``caption_sampling='all'`` (every caption an item, deterministic) instead of the
demo's ``'random'``: the random caption of an item is drawn from Python's global RNG, whose state
mmengine does not save in checkpoints, so epoch 2 of a resumed run would draw other captions than
epoch 2 of the uninterrupted run (the data order itself is restored: the samplers seed on
``seed + epoch``).
"""
import pickle

import pytest
import torch

from .integration_utils import read_logs, read_scalars, write_config

ITEMS = 16  # the first 8 train videos x 2 captions
ITERS = ITEMS // 8
BASE_LR = 1e-3  # the demo config's
EXTRA = "train_dataloader['dataset']['caption_sampling'] = 'all'\n"


def train_records(work_dir):
    return [r for r in read_scalars(work_dir) if 'loss' in r]


def assert_tensors_equal(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_tensors_equal(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_tensors_equal(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


@pytest.fixture(scope='module')
def runs(tools, demo_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('resume')
    data = demo_data['out_dir']
    common = dict(schedule_epochs=2, train_items=ITEMS, extra=EXTRA)
    # Interrupted: a 2-epoch schedule stopped after epoch 1 ...
    first = write_config(tmp / 'resume_first.py', data, tmp / 'interrupted', max_epochs=1,
                         **common)
    tools.train.main([str(first), '--no-validate'])
    # ... and resumed in the same work_dir from its latest checkpoint.
    second = write_config(tmp / 'resume_second.py', data, tmp / 'interrupted', max_epochs=2,
                          **common)
    resumed = tools.train.main([str(second), '--no-validate', '--resume'])
    full = write_config(tmp / 'resume_full.py', data, tmp / 'full', max_epochs=2, **common)
    uninterrupted = tools.train.main([str(full), '--no-validate'])
    return dict(tmp=tmp, resumed=resumed, uninterrupted=uninterrupted)


def test_checkpoint_needs_the_allow_list_under_weights_only(runs):
    checkpoint = runs['tmp'] / 'interrupted' / 'epoch_1.pth'
    assert torch.load(checkpoint, map_location='cpu')['meta']['epoch'] == 1
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(checkpoint, map_location='cpu')
    finally:
        torch.serialization.add_safe_globals(saved)


def test_resumed_run_starts_at_epoch_2(runs):
    runner = runs['resumed']
    assert runner.epoch == 2 and runner.iter == 2 * ITERS
    log = read_logs(runs['tmp'] / 'interrupted')
    assert 'Auto resumed from the latest checkpoint' in log and 'epoch_1.pth' in log
    assert f'resumed epoch: 1, iter: {ITERS}' in log
    # The resumed run's own iterations are exactly epoch 2's.
    records = train_records(runs['tmp'] / 'interrupted')
    assert [(r['epoch'], r['iter']) for r in records] == [
        (2, i) for i in range(ITERS + 1, 2 * ITERS + 1)]


def test_resumed_schedule_and_losses_match_the_uninterrupted_run(runs):
    resumed = train_records(runs['tmp'] / 'interrupted')
    full = train_records(runs['tmp'] / 'full')
    assert [r['iter'] for r in full] == list(range(1, 2 * ITERS + 1))
    epoch2 = full[ITERS:]
    # The lr at the first iteration of epoch 2 is the schedule's at step ITERS of 2 * ITERS:
    # warm-up cosine at progress 0.5 -> factor 0.5 (a restarted schedule would give 0).
    assert resumed[0]['lr'] == pytest.approx(BASE_LR * 0.5, rel=1e-6)
    assert [r['lr'] for r in resumed] == [r['lr'] for r in epoch2]
    # Same data, weights and optimizer state: the same loss at every iteration.
    assert [r['loss'] for r in resumed] == [r['loss'] for r in epoch2]


def test_resumed_weights_and_optimizer_equal_the_uninterrupted_run(runs):
    resumed = torch.load(runs['tmp'] / 'interrupted' / 'epoch_2.pth', map_location='cpu')
    full = torch.load(runs['tmp'] / 'full' / 'epoch_2.pth', map_location='cpu')
    assert resumed['meta']['epoch'] == full['meta']['epoch'] == 2
    assert_tensors_equal(resumed['state_dict'], full['state_dict'], 'state_dict')
    # Adam moments and step counts: restored, not restarted.
    assert_tensors_equal(resumed['optimizer'], full['optimizer'], 'optimizer')
    assert_tensors_equal(resumed['param_schedulers'], full['param_schedulers'],
                         'param_schedulers')
    # And both moved away from the epoch-1 weights.
    epoch1 = torch.load(runs['tmp'] / 'interrupted' / 'epoch_1.pth', map_location='cpu')
    assert any(not torch.equal(epoch1['state_dict'][k], v)
               for k, v in full['state_dict'].items())
