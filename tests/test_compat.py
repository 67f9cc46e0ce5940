"""The three upstream breakages of environment.md and their fixes in :mod:`mmdret.compat`.

Each fix is proven needed (fails without ``import mmdret``, in a fresh interpreter) and working.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import mmdret  # noqa: F401
from mmdret import compat


def run_python(code, cwd):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_drn_stub_needed_without_mmdret(tmp_path):
    result = run_python("""
        try:
            import mmaction.models
        except ModuleNotFoundError as error:
            print('FAILED', error.name)
        else:
            print('IMPORTED')
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'FAILED mmaction.models.localizers.drn' in result.stdout, result.stdout


def test_drn_stub_makes_mmaction_models_importable():
    # This process imported mmdret first (module top), so the stub is in place.
    import importlib
    models = importlib.import_module('mmaction.models')
    assert hasattr(models, 'localizers')
    from mmaction.models.localizers.drn import DRN
    with pytest.raises(ImportError, match='2714'):
        DRN()
    assert sys.modules[compat.DRN_MODULE].DRN is compat._MissingDRN  # the wheel lacks it


def test_drn_is_missing_after_stub_installed():
    assert compat.drn_is_missing() is True


CHECKPOINT_SCRIPT = """
    import collections
    import os
    import pickle

    import numpy as np
    import torch
    from mmengine.logging import MessageHub

    # An mmengine-style checkpoint as Runner.save_checkpoint writes it.
    hub = MessageHub.get_instance('compat_test')
    for value in (1.0, 0.5, np.float64(0.25)):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', np.int64(7))
    hub.update_info('table', np.arange(6, dtype=np.float32).reshape(2, 3))
    checkpoint = dict(
        meta=dict(epoch=1, iter=7, seed=np.int64(42), dataset_meta=dict(n=np.int32(3))),
        state_dict=collections.OrderedDict(w=torch.ones(2)),
        message_hub=hub.state_dict())
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(buffer).__name__ == 'HistoryBuffer'
    torch.save(checkpoint, 'epoch_1.pth')
    torch.save(dict(message_hub=hub.state_dict()), 'hub_only.pth')

    class Evil(collections.OrderedDict):
        pass

    torch.save({'evil': Evil(a=1)}, 'evil_class.pth')
    torch.save({'call': os.system}, 'evil_function.pth')

    def load(path):
        try:
            return torch.load(path)  # weights_only default (True since torch 2.6)
        except pickle.UnpicklingError as error:
            return 'REJECTED: ' + ' '.join(str(error).split())

    before = load('epoch_1.pth')
    print('BEFORE', before if isinstance(before, str) else 'LOADED')
    hub_before = load('hub_only.pth')
    print('HUB_BEFORE', hub_before if isinstance(hub_before, str) else 'LOADED')

    import mmdret  # noqa: E402
    from mmengine.runner.checkpoint import _load_checkpoint  # noqa: E402

    print('ENV', 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' in os.environ)
    after = load('epoch_1.pth')
    assert not isinstance(after, str), after
    loaded_buffer = after['message_hub']['log_scalars']['train/loss']
    assert type(loaded_buffer) is type(buffer)
    assert loaded_buffer.data[0].tolist() == [1.0, 0.5, 0.25], loaded_buffer.data
    assert after['message_hub']['runtime_info']['iter'] == 7
    assert after['message_hub']['runtime_info']['table'].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert after['meta']['seed'] == 42 and after['meta']['seed'].dtype == np.int64
    assert torch.equal(after['state_dict']['w'], torch.ones(2))
    via_mmengine = _load_checkpoint('epoch_1.pth', map_location='cpu')
    assert via_mmengine['meta']['iter'] == 7
    hub2 = MessageHub.get_instance('compat_test_2')
    hub2.load_state_dict(after['message_hub'])
    assert hub2.get_scalar('train/loss').current() == 0.25
    assert not isinstance(load('hub_only.pth'), str)
    print('AFTER LOADED')
    for name in ('evil_class.pth', 'evil_function.pth'):
        print(name, load(name))
"""


def test_mmengine_checkpoint_loads_weights_only_after_import(tmp_path):
    result = run_python(CHECKPOINT_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(' ', 1) for line in result.stdout.splitlines() if ' ' in line)
    # Without mmdret the default weights-only load refuses mmengine's HistoryBuffer.
    assert lines['BEFORE'].startswith('REJECTED'), lines['BEFORE']
    assert lines['HUB_BEFORE'].startswith('REJECTED'), lines['HUB_BEFORE']
    assert 'HistoryBuffer' in lines['HUB_BEFORE']
    assert lines['AFTER'] == 'LOADED'
    assert lines['ENV'] == 'False'
    # Safety kept: arbitrary globals are still refused.
    assert lines['evil_class.pth'].startswith('REJECTED'), lines['evil_class.pth']
    assert 'Evil' in lines['evil_class.pth']
    assert lines['evil_function.pth'].startswith('REJECTED'), lines['evil_function.pth']
    assert 'system' in lines['evil_function.pth']


def test_no_global_weights_only_override_in_this_process():
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    import torch
    safe = torch.serialization.get_safe_globals()
    from mmengine.logging.history_buffer import HistoryBuffer
    assert HistoryBuffer in safe
    assert not any(getattr(g, '__name__', '') == 'system' for g in safe)


def test_openai_clip_available_returns_bool():
    assert isinstance(compat.openai_clip_available(), bool)


def _isolated_clip(monkeypatch, tmp_path):
    for name in ('clip', 'clip.clip'):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_openai_clip_available_with_openai_layout(monkeypatch, tmp_path):
    (tmp_path / 'clip').mkdir()
    (tmp_path / 'clip' / '__init__.py').write_text('')
    (tmp_path / 'clip' / 'clip.py').write_text('')
    _isolated_clip(monkeypatch, tmp_path)
    assert compat.openai_clip_available() is True


def test_openai_clip_available_with_unrelated_clip_package(monkeypatch, tmp_path):
    (tmp_path / 'clip').mkdir()
    (tmp_path / 'clip' / '__init__.py').write_text('')
    _isolated_clip(monkeypatch, tmp_path)
    assert compat.openai_clip_available() is False


def test_openai_clip_available_with_unrelated_clip_module(monkeypatch, tmp_path):
    (tmp_path / 'clip.py').write_text('')
    _isolated_clip(monkeypatch, tmp_path)
    assert compat.openai_clip_available() is False
