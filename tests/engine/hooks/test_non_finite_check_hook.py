"""NonFiniteCheckHook in a real mmengine Runner: training stops at the first NaN/Inf loss term,
gradient norm or weight, naming the iteration and the term, and no checkpoint is written at or
after it; validation and testing refuse non-finite weights."""
import json
import math
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import mmdret  # noqa: F401
from mmdret.engine.hooks import NonFiniteCheckHook
from mmdret.registry import HOOKS
from mmdret.utils.finite import assert_finite_state_dict


class ToyModel(BaseModel):
    """loss = mean(w * x); ``sqrt`` makes an infinite gradient at w*x = 0 when asked."""

    def __init__(self, sqrt=False):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.register_buffer('counter', torch.zeros(1))
        self.sqrt = sqrt

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        value = (self.w * x).mean()
        if self.sqrt:
            value = (value - value.detach()).abs().sqrt() + value.detach()
        return dict(loss_toy=value)


class Items(torch.utils.data.Dataset):
    def __init__(self, values):
        self.values = values

    def __len__(self):
        return len(self.values)

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([self.values[i]]))


def loader(values):
    return dict(dataset=Items(values), batch_size=1, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='default_collate'))


def make_runner(tmp_path, values, model=None, clip_grad=None, hooks=None, lr=0.1):
    return Runner(
        model=model or ToyModel(), work_dir=str(tmp_path), train_dataloader=loader(values),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr), clip_grad=clip_grad),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks if hooks is not None else [dict(type='NonFiniteCheckHook')],
        default_scope='mmdret', experiment_name=Path(tmp_path).name)


def saved(tmp_path):
    return sorted(p.name for p in Path(tmp_path).glob('*.pth'))


def test_nan_loss_stops_at_that_iteration_and_nothing_is_saved_after(tmp_path):
    runner = make_runner(tmp_path, [1.0, 2.0, float('nan'), 3.0, 4.0])
    with pytest.raises(FloatingPointError,
                       match=r"iteration 3 \(epoch 1, batch 3 of 5\).*loss term 'loss_toy' = "
                             r'nan') as error:
        runner.train()
    # The NaN's step made w NaN too, and the message says so.
    assert 'weights after the optimizer step: 1 of 1 tensors hold NaN/Inf: w' in str(error.value)
    assert saved(tmp_path) == ['iter_1.pth', 'iter_2.pth']


def test_without_the_hook_the_same_run_saves_nan_weights(tmp_path):
    # What the hook prevents: the run completes and its last checkpoint is NaN.
    runner = make_runner(tmp_path, [1.0, 2.0, float('nan'), 3.0], hooks=[])
    runner.train()
    assert saved(tmp_path)[-1] == 'iter_4.pth' and torch.isnan(runner.model.w).all()


def test_infinite_gradient_norm_stops_with_finite_loss(tmp_path):
    runner = make_runner(tmp_path, [1.0, 1.0], model=ToyModel(sqrt=True),
                         clip_grad=dict(max_norm=1.0))
    with pytest.raises(FloatingPointError, match=r'iteration 1 .*gradient norm = (inf|nan)') \
            as error:
        runner.train()
    assert 'loss term' not in str(error.value)  # the loss itself was finite
    assert saved(tmp_path) == []


def test_weights_overflow_after_a_finite_step_is_caught(tmp_path):
    # A finite loss and gradient, but lr * grad overflows w to inf in the second step.
    runner = make_runner(tmp_path, [1.0, -3e38, 1.0], lr=10.0)
    with pytest.raises(FloatingPointError, match=r'iteration 2 .*weights after the optimizer '
                                                 r'step: 1 of 1 tensors hold NaN/Inf: w'):
        runner.train()
    assert saved(tmp_path) == ['iter_1.pth']


def test_finite_run_is_untouched(tmp_path):
    make_runner(tmp_path, [1.0, 2.0, 3.0]).train()
    assert saved(tmp_path) == ['iter_1.pth', 'iter_2.pth', 'iter_3.pth']


def test_before_test_refuses_non_finite_weights_naming_checkpoint_and_tensor(tmp_path):
    hook = HOOKS.build(dict(type='NonFiniteCheckHook'))
    assert isinstance(hook, NonFiniteCheckHook) and NonFiniteCheckHook.priority == 'VERY_HIGH'
    model = ToyModel()
    model.counter.fill_(math.inf)  # a persistent buffer counts too
    runner = make_runner(tmp_path, [1.0], model=model)
    runner.cfg['load_from'] = 'some/ckpt.pth'
    with pytest.raises(ValueError, match=r'checkpoint some/ckpt.pth: non-finite weights.*1 of 2 '
                                         r'tensors hold NaN/Inf: counter \(1 of 1 values\)'):
        hook.before_test(runner)
    with pytest.raises(ValueError, match='the model at epoch 0, iteration 0: non-finite'):
        hook.before_val(runner)
    model.counter.zero_()
    hook.before_test(runner)
    hook.before_val(runner)


def test_assert_finite_state_dict_lists_the_first_tensors():
    state = {f't{i}': torch.full((2, ), math.nan if i % 2 else 1.0) for i in range(16)}
    state['ids'] = torch.tensor([1, 2])  # integer tensors are never non-finite
    with pytest.raises(ValueError, match=r'^f.pth: non-finite weights, refusing to use them; 8 '
                                         r'of 17 tensors hold NaN/Inf: t1 \(2 of 2 values\), '
                                         r't3 .*, t9 \(2 of 2 values\) and 3 more'):
        assert_finite_state_dict(state, 'f.pth')
    assert_finite_state_dict({k: v for k, v in state.items() if k in ('t0', 'ids')}, 'f.pth')


# -- two processes: a NaN on one rank stops both (no rank waits for a peer that stopped) --------
def _worker(rank, init_file, result_dir):
    import faulthandler
    from types import SimpleNamespace

    import torch.distributed as dist
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    torch.set_num_threads(1)
    faulthandler.dump_traceback_later(60, exit=True)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        model = ToyModel()
        runner = SimpleNamespace(
            model=model, iter=6, epoch=1, train_dataloader=[None] * 4,
            message_hub=MessageHub.get_instance(f'nonfinite{rank}'),
            optim_wrapper=OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
        hook = NonFiniteCheckHook()
        hook.before_train_iter(runner, batch_idx=2)
        loss = torch.tensor(float('nan') if rank == 1 else 1.0)
        try:
            hook.after_train_iter(runner, batch_idx=2, outputs=dict(loss_toy=loss))
            message = None
        except FloatingPointError as error:
            message = str(error)
        Path(result_dir, f'rank{rank}.json').write_text(json.dumps(message))
    finally:
        dist.destroy_process_group()


def test_non_finite_on_one_rank_stops_every_rank(tmp_path):
    import torch.multiprocessing as mp
    mp.start_processes(_worker, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=2,
                       start_method='fork')
    messages = [json.loads((tmp_path / f'rank{rank}.json').read_text()) for rank in range(2)]
    where = 'non-finite value at training iteration 7 (epoch 2, batch 3 of 4): '
    assert messages[1].startswith(where + "loss term 'loss_toy' = nan")
    assert messages[0].startswith(where + 'found on another rank (see its log)')
