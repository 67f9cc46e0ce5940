"""Fixes for three upstream breakages every user of this stack hits; applied on ``import mmdret``.

1. mmengine 0.10.7 ``resume`` / ``load_from`` under torch>=2.6 (``weights_only=True`` by default)
   fails with ``Unsupported global: ... HistoryBuffer`` (open-mmlab/mmengine#1655). Not patched
   here: :class:`mmdret.engine.runner.SafeLoadRunner` admits exactly the globals mmengine
   checkpoints contain, only while it loads one (:mod:`mmdret.utils.safe_load`).
2. The mmaction2 1.2.0 wheel lacks ``mmaction.models.localizers.drn`` (open-mmlab/mmaction2#2714),
   so ``import mmaction.models`` fails. A last-resort import finder supplies a stub module for it,
   only when that import happens and only when the real module is not found.
3. mmaction2's ``CLIPSimilarity`` / ``CLIPTokenize`` import OpenAI's git-only ``clip`` package; the
   PyPI ``clip`` is unrelated. mmdret builds on open_clip instead and never imports ``clip``
   (nothing to patch; :func:`openai_clip_available` tells whether mmaction's own classes can work).
"""
import importlib.abc
import importlib.util
import sys

DRN_MODULE = 'mmaction.models.localizers.drn'


class _MissingDRN:
    """Stands in for mmaction's DRN localizer, which the 1.2.0 wheel does not ship."""

    def __init__(self, *args, **kwargs):
        raise ImportError('DRN is missing from the mmaction2 1.2.0 wheel (mmaction2#2714); '
                          'install mmaction2 from source to use it.')


class _DRNStubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers for ``drn`` / ``drn.drn`` with modules whose ``DRN`` is :class:`_MissingDRN`.

    It sits last on ``sys.meta_path``, so it is asked only after the regular finders found no
    such module (a source install of mmaction2 keeps its real DRN), and it costs nothing until
    something imports ``mmaction.models``.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in (DRN_MODULE, DRN_MODULE + '.drn'):
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == DRN_MODULE)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        module.DRN = _MissingDRN


def drn_stub_in_use():
    """Whether the imported ``mmaction.models.localizers.drn.drn`` is the stub."""
    module = sys.modules.get(DRN_MODULE + '.drn')
    return getattr(module, 'DRN', None) is _MissingDRN


def install_drn_stub():
    """Append the stub finder to ``sys.meta_path`` (once): ``import mmaction.models`` then works."""
    if not any(isinstance(finder, _DRNStubFinder) for finder in sys.meta_path):
        sys.meta_path.append(_DRNStubFinder())


def openai_clip_available():
    """Whether OpenAI's git-only ``clip`` package (with ``clip.clip``) is importable."""
    try:
        spec = importlib.util.find_spec('clip')
        if spec is None or spec.submodule_search_locations is None:
            return False
        return importlib.util.find_spec('clip.clip') is not None
    except (ModuleNotFoundError, ValueError):
        return False


def apply():
    install_drn_stub()
