"""mmdret.utils.safe_load: exactly what mmengine checkpoints need, only inside mmdret's loads;
plain-data pickles; TorchScript weights without running the archive."""
import collections
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from torch import nn

from mmdret.utils.safe_load import (UnsafeFileError, checkpoint_safe_globals,
                                    load_checkpoint_file, load_data_pickle,
                                    mmengine_checkpoint_globals, read_torchscript_state_dict)

ROOT = Path(__file__).resolve().parents[2]


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, x, mode='loss'):
        return dict(loss=self.layer(x).pow(2).mean())


class Points(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(x=torch.full((2, ), float(index)))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint as mmengine's Runner writes it (message hub, schedulers, numpy values)."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.net = Linear()

        def forward(self, x, mode='loss'):
            return self.net(x)

    work = tmp_path_factory.mktemp('runner')
    runner = Runner(
        model=Model(), work_dir=str(work), experiment_name='safe_load_test',
        train_dataloader=dict(dataset=Points(), sampler=dict(type='DefaultSampler'),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        param_scheduler=[dict(type='LinearLR', by_epoch=True, convert_to_iter_based=True)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0))
    runner.train()
    return work / 'epoch_1.pth'


def admitted_names():
    names = set()
    for entry in mmengine_checkpoint_globals():
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def test_admits_the_globals_of_a_runner_checkpoint(runner_checkpoint):
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(runner_checkpoint))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    assert 'builtins.getattr' in needed  # HistoryBuffer's statistics methods
    assert needed <= admitted_names()
    checkpoint = load_checkpoint_file(runner_checkpoint)
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer and buffer.data[0].shape == (2, )
    assert checkpoint['meta']['epoch'] == 1


def test_allow_list_only_inside_the_block(runner_checkpoint):
    before = torch.serialization.get_safe_globals()
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(runner_checkpoint, map_location='cpu')
    with checkpoint_safe_globals():
        assert torch.load(runner_checkpoint, map_location='cpu')['meta']['iter'] == 2
    assert set(map(repr, torch.serialization.get_safe_globals())) == set(map(repr, before))


class GetAttr:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner,name', [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'),
                                        (np.ndarray, 'tofile'), (torch.Tensor, 'numpy')])
def test_getattr_only_reaches_history_buffer_statistics(tmp_path, owner, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': GetAttr(owner, name)}, path)
    with pytest.raises(UnsafeFileError) as info:
        load_checkpoint_file(path)
    assert str(path) in str(info.value)
    good = tmp_path / 'good.pth'
    torch.save({'x': GetAttr(HistoryBuffer, 'mean')}, good)
    assert load_checkpoint_file(good)['x'] is HistoryBuffer.mean


def test_import_mmdret_changes_nothing_about_torch_load(runner_checkpoint):
    code = textwrap.dedent(f"""
        import pickle
        import torch
        before = set(map(repr, torch.serialization.get_safe_globals()))
        import mmdret, mmdret.engine, mmdret.models, mmdret.datasets  # noqa: E401
        from mmdret.utils import register_all_modules
        register_all_modules()
        added = set(map(repr, torch.serialization.get_safe_globals())) - before
        # (torch registers its own DTensor classes when torch.distributed.tensor is imported)
        assert all(entry.startswith("<class 'torch.") for entry in added), added
        try:
            torch.load({str(runner_checkpoint)!r}, map_location='cpu')
        except pickle.UnpicklingError as error:
            print('REFUSED', 'HistoryBuffer' in str(error))
    """)
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=str(ROOT))
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'REFUSED True' in result.stdout


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, 'w')


def test_data_pickle_admits_builtin_data_only(tmp_path):
    data = {'v1': [['a', 'man'], ['cooks']], 'n': (1, 2.5, True, None, b'x')}
    path = tmp_path / 'ok.pkl'
    path.write_bytes(pickle.dumps(data))
    assert load_data_pickle(path) == data
    marker = tmp_path / 'MARKER'
    for bad, name in (({1, 2}, '.set'), (Payload(marker), '.open'),
                      (collections.OrderedDict(a=1), 'collections.OrderedDict')):
        path = tmp_path / 'bad.pkl'
        path.write_bytes(pickle.dumps({'x': bad}, protocol=2))
        with pytest.raises(UnsafeFileError) as info:
            load_data_pickle(path)
        assert str(path) in str(info.value) and name in str(info.value)
    assert not marker.exists()


class Scripted(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 2)
        self.blocks = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
        self.scale = nn.Parameter(torch.arange(3.))
        self.register_buffer('steps', torch.tensor(7))
        self.mask = torch.ones(2)  # a tensor attribute: not in state_dict()
        self.view = self.proj.weight.t()  # shares a storage, strided

    def forward(self, x):
        return self.blocks(self.proj(x)) + self.mask + self.view.sum()


def test_torchscript_weights_equal_jit_load_without_running_it(tmp_path):
    path = tmp_path / 'scripted.pt'
    torch.jit.script(Scripted().half()).save(str(path))
    expected = torch.jit.load(str(path)).state_dict()
    state_dict = read_torchscript_state_dict(path)
    assert list(state_dict) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state_dict[key], value) and state_dict[key].dtype == value.dtype, key


def test_torchscript_archive_with_a_foreign_global_is_refused(tmp_path):
    import zipfile
    marker = tmp_path / 'MARKER'
    path = tmp_path / 'evil.pt'
    torch.save({'x': Payload(marker)}, path)
    with zipfile.ZipFile(path, 'a') as archive:
        archive.writestr('evil/constants.pkl', pickle.dumps(()))
    with pytest.raises(UnsafeFileError) as info:
        read_torchscript_state_dict(path)
    assert str(path) in str(info.value) and '.open' in str(info.value)
    assert not marker.exists()


def test_safe_load_runner_is_the_default_runner():
    from mmaction.registry import RUNNERS as MMACTION_RUNNERS
    from mmengine.config import Config

    from mmdret.engine.runner import SafeLoadRunner
    from mmdret.registry import RUNNERS
    for name in ('configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py',
                 'configs/mmaction_mix/clip4clip_msrvtt_with_mmdret_diffusionret.py'):
        assert Config.fromfile(str(ROOT / name)).runner_type == 'mmdret.SafeLoadRunner', name
    # Found from mmdret's registry and from mmaction2's (its tools/train.py builds from it).
    assert RUNNERS.get('mmdret.SafeLoadRunner') is SafeLoadRunner
    assert MMACTION_RUNNERS.get('mmdret.SafeLoadRunner') is SafeLoadRunner
