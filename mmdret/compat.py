"""Fixes for three upstream breakages every user of this stack hits; applied on ``import mmdret``.

1. mmengine 0.10.7 ``resume`` / ``load_from`` under torch>=2.6 (``weights_only=True`` by default)
   fails with ``Unsupported global: ... HistoryBuffer`` (open-mmlab/mmengine#1655). We allow-list
   exactly the globals mmengine checkpoints contain instead of disabling weights-only loading.
2. The mmaction2 1.2.0 wheel lacks ``mmaction.models.localizers.drn`` (open-mmlab/mmaction2#2714),
   so ``import mmaction.models`` fails. A guarded stub module stands in for it.
3. mmaction2's ``CLIPSimilarity`` / ``CLIPTokenize`` import OpenAI's git-only ``clip`` package; the
   PyPI ``clip`` is unrelated. mmdret builds on open_clip instead and never imports ``clip``
   (nothing to patch; :func:`openai_clip_available` tells whether mmaction's own classes can work).
"""
import builtins
import importlib.util
import sys
import types

import numpy as np
import torch

DRN_MODULE = 'mmaction.models.localizers.drn'


def mmengine_checkpoint_safe_globals():
    """The non-tensor globals found in mmengine checkpoints (message hub, numpy scalars/arrays)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes)
                     if name.endswith('DType')]
    numpy_core = getattr(np, '_core', None) or np.core
    return [HistoryBuffer, np.ndarray, np.dtype, numpy_core.multiarray._reconstruct,
            numpy_core.multiarray.scalar,
            builtins.getattr, *dtype_classes]


def allow_mmengine_checkpoint_globals():
    torch.serialization.add_safe_globals(mmengine_checkpoint_safe_globals())


def drn_is_missing():
    if isinstance(sys.modules.get(DRN_MODULE + '.drn'), types.ModuleType) and getattr(
            sys.modules[DRN_MODULE + '.drn'], 'DRN', None) is _MissingDRN:
        return True
    try:
        return importlib.util.find_spec(DRN_MODULE) is None
    except (ModuleNotFoundError, ValueError):
        return True


class _MissingDRN:
    """Stands in for mmaction's DRN localizer, which the 1.2.0 wheel does not ship."""

    def __init__(self, *args, **kwargs):
        raise ImportError('DRN is missing from the mmaction2 1.2.0 wheel (mmaction2#2714); '
                          'install mmaction2 from source to use it.')


def install_drn_stub():
    """Register stub ``drn`` / ``drn.drn`` modules so ``mmaction.models.localizers`` imports."""
    if DRN_MODULE in sys.modules or not drn_is_missing():
        return
    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []
    module = types.ModuleType(DRN_MODULE + '.drn')
    module.DRN = package.DRN = _MissingDRN
    sys.modules[DRN_MODULE] = package
    sys.modules[DRN_MODULE + '.drn'] = module


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
    allow_mmengine_checkpoint_globals()
    install_drn_stub()
