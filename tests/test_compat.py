"""The upstream breakages :mod:`mmdret.compat` works around, and its fixes.

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


def test_drn_stub_in_use_and_installed_once():
    import mmaction.models  # noqa: F401
    assert compat.drn_stub_in_use() is True
    compat.install_drn_stub()
    assert sum(isinstance(finder, compat._DRNStubFinder) for finder in sys.meta_path) == 1


# What `import mmdret` must not pull in: each costs up to seconds and is imported where used.
HEAVY_MODULES = ('mmaction.models', 'mmdret.models', 'open_clip', 'faiss', 'matplotlib', 'decord')


def test_import_mmdret_is_light_and_the_stub_waits_for_mmaction_models(tmp_path):
    result = run_python(f"""
        import sys
        import mmdret
        print('HEAVY', [name for name in {HEAVY_MODULES!r} if name in sys.modules])
        import mmaction.models  # directly, not through mmdret.models
        from mmaction.models.localizers.drn import DRN
        from mmdret import compat
        print('STUB', DRN is compat._MissingDRN, compat.drn_stub_in_use())
        # A config's type still resolves: the scope's registry imports mmdret.models on lookup.
        from mmengine.registry import MODELS, DefaultScope
        DefaultScope.get_instance('light_import', scope_name='mmdret')
        head = MODELS.build(dict(type='WTISimilarityHead', embed_dim=8, hidden_dim=16))
        print('BUILT', type(head).__module__)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'HEAVY []' in result.stdout, result.stdout
    assert 'STUB True True' in result.stdout, result.stdout
    assert 'BUILT mmdret.models.heads.wti_similarity_head' in result.stdout, result.stdout


def write_fake_mmaction(root, with_drn):
    """A minimal ``mmaction`` whose localizers import ``.drn.drn``, with or without that module."""
    localizers = root / 'mmaction' / 'models' / 'localizers'
    localizers.mkdir(parents=True)
    (root / 'mmaction' / '__init__.py').write_text('')
    (root / 'mmaction' / 'models' / '__init__.py').write_text('from . import localizers\n')
    (localizers / '__init__.py').write_text('from .drn.drn import DRN\n')
    if with_drn:
        (localizers / 'drn').mkdir()
        (localizers / 'drn' / '__init__.py').write_text('')
        (localizers / 'drn' / 'drn.py').write_text("DRN = 'the real DRN'\n")


@pytest.mark.parametrize('with_drn,expected', [(True, 'the real DRN'), (False, '_MissingDRN')])
def test_stub_stands_in_only_for_a_missing_drn(tmp_path, with_drn, expected):
    write_fake_mmaction(tmp_path, with_drn)  # `python -c` puts the cwd first on sys.path
    result = run_python("""
        import mmdret
        import mmaction.models
        DRN = mmaction.models.localizers.DRN
        print('DRN', DRN if isinstance(DRN, str) else DRN.__name__)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f'DRN {expected}' in result.stdout, result.stdout


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
