"""Resuming continues bit-identically: a 2-epoch run killed with SIGKILL (``kill -9``) in epoch 2
and resumed with ``tools/train.py --resume`` ends with exactly (``torch.equal``) the weights,
optimizer state, losses and metrics of the uninterrupted run; stage 1 and stage 2 (diffusion
noise and timesteps from the global RNG), 1 and 2 processes (gloo), epoch and iteration
checkpoints.

The training items sample one random caption per video (``caption_sampling='random'``, through a
persistent dataloader worker in the 1-process runs), which a resume must repeat as well.

The killed runs are subprocesses (tests/integration/train_until_killed.py). Every run uses this
process's thread count (a different one changes the last bits of the arithmetic).
"""
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdret.utils.safe_load import load_checkpoint_file

from .integration_utils import METRIC_KEYS, free_port, read_scalars, subprocess_env, write_config

HERE = Path(__file__).resolve().parent
ITEMS = 16  # the first 16 train videos; 2 iterations of 8 per epoch
KILL_AT = 3  # the first iteration of epoch 2, after epoch_1.pth is written
TRAIN = HERE.parents[1] / 'tools' / 'train.py'
KILLED = HERE / 'train_until_killed.py'
WORKER = ("train_dataloader.update(num_workers=1, persistent_workers=True)\n")
# An iteration-based run: a checkpoint every 2 iterations, killed before iteration 3.
ITER_BASED = """
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=4, val_interval=4)
param_scheduler = [dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=4,
                        by_epoch=False)]
default_hooks.update(checkpoint=dict(by_epoch=False, interval=2))
log_processor = dict(by_epoch=False)
"""


def assert_tensors_equal(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f'{where}: max |diff| {(a.double() - b.double()).abs().max()}'
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


def launch(script, args, nproc, expect_killed=False):
    """``script args`` in a subprocess (``torch.distributed.run`` for ``nproc`` > 1)."""
    if nproc > 1:
        command = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
                   f'--master_port={free_port()}', script, *args, '--launcher', 'pytorch']
    else:
        command = [sys.executable, script, *args]
    env = dict(subprocess_env(), OMP_NUM_THREADS=str(torch.get_num_threads()))
    result = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True,
                            timeout=300)
    if expect_killed:  # by its SIGKILL (torch.distributed.run reports the signal)
        assert result.returncode == -signal.SIGKILL or (
            nproc > 1 and 'SIGKILL' in result.stderr), result.stderr[-5000:]
    else:
        assert result.returncode == 0, result.stderr[-5000:]
    return result


def train(tools, config, work_dir, nproc, extra_args=()):
    args = [str(config), '--work-dir', str(work_dir), *extra_args]
    if nproc == 1:
        tools.train.main(args)
    else:
        launch(str(TRAIN), args, nproc)


def run_pair(tools, tmp, data, stage, nproc, load_from=None, extra=''):
    """The uninterrupted run and the killed-and-resumed run of one tiny config."""
    extra += WORKER if nproc == 1 else ''
    config = write_config(tmp / f'resume_s{stage}_p{nproc}.py', data, tmp / 'unused',
                          stage=stage, max_epochs=2, train_items=ITEMS, load_from=load_from,
                          extra=extra)
    # 2 processes: the same global batch of 8, 4 per process.
    args = () if nproc == 1 else ('--cfg-options', 'train_dataloader.batch_size=4')
    train(tools, config, tmp / 'full', nproc, args)
    work = tmp / 'interrupted'
    launch(str(KILLED), [str(KILL_AT), str(config), '--work-dir', str(work), *args], nproc,
           expect_killed=True)
    saved = sorted(p.name for p in work.glob('*.pth'))
    train(tools, config, work, nproc, ('--resume', *args))
    return dict(full=tmp / 'full', resumed=work, saved_before_resume=saved)


def assert_continues_bit_identically(runs, resumed_from, final):
    assert runs['saved_before_resume'] == [resumed_from], runs['saved_before_resume']
    full = load_checkpoint_file(runs['full'] / final)
    resumed = load_checkpoint_file(runs['resumed'] / final)
    assert (resumed['meta']['epoch'], resumed['meta']['iter']) == (
        full['meta']['epoch'], full['meta']['iter'])
    assert_tensors_equal(resumed['state_dict'], full['state_dict'], 'state_dict')
    assert_tensors_equal(resumed['optimizer'], full['optimizer'], 'optimizer')
    assert_tensors_equal(resumed['param_schedulers'], full['param_schedulers'],
                         'param_schedulers')
    # Per-iteration losses after the resume point, and the final metrics.
    full_scalars, resumed_scalars = read_scalars(runs['full']), read_scalars(runs['resumed'])
    full_losses = {r['iter']: r['loss'] for r in full_scalars if 'loss' in r}
    resumed_losses = {r['iter']: r['loss'] for r in resumed_scalars if 'loss' in r}
    assert min(resumed_losses) == KILL_AT and resumed_losses == {
        i: full_losses[i] for i in resumed_losses}
    metrics = [[r for r in scalars if METRIC_KEYS[0] in r][-1]
               for scalars in (full_scalars, resumed_scalars)]
    assert [{k: m[k] for k in METRIC_KEYS} for m in metrics] == [
        {k: metrics[0][k] for k in METRIC_KEYS}] * 2


@pytest.mark.parametrize('nproc', [1, 2])
@pytest.mark.parametrize('stage', [1, 2])
def test_killed_and_resumed_run_equals_uninterrupted_run(tools, demo_data, stage1_run,
                                                         tmp_path, stage, nproc):
    load_from = stage1_run['checkpoint'] if stage == 2 else None
    runs = run_pair(tools, tmp_path, demo_data['out_dir'], stage, nproc, load_from)
    assert_continues_bit_identically(runs, 'epoch_1.pth', 'epoch_2.pth')


def test_killed_at_an_iteration_checkpoint(tools, demo_data, stage1_run, tmp_path):
    runs = run_pair(tools, tmp_path, demo_data['out_dir'], 2, 1, stage1_run['checkpoint'],
                    extra=ITER_BASED)
    assert_continues_bit_identically(runs, 'iter_2.pth', 'iter_4.pth')


def test_checkpoints_hold_every_rank_rng_state_and_load_only_scoped(tools, demo_data,
                                                                    tmp_path):
    config = write_config(tmp_path / 'rng.py', demo_data['out_dir'], tmp_path / 'work',
                          train_items=8)
    tools.train.main([str(config), '--no-validate'])
    path = tmp_path / 'work' / 'epoch_1.pth'
    checkpoint = load_checkpoint_file(path)
    states = checkpoint['rng_states']
    assert len(states) == 1 and set(states[0]) == {'random', 'numpy', 'torch', 'cuda'}
    # Outside mmdret's loaders the process-wide torch.load is unchanged: it refuses the
    # message hub of an mmengine checkpoint.
    from mmengine.logging.history_buffer import HistoryBuffer
    process_wide = torch.serialization.get_safe_globals()
    assert HistoryBuffer not in process_wide and getattr not in process_wide
    with pytest.raises(Exception, match='HistoryBuffer'):
        torch.load(path, map_location='cpu')
