"""Reading user-supplied files without running code from them.

Pickle-based formats can call any function while they load. Every reader here admits only what
its format needs and refuses anything else with a :class:`UnsafeFileError` naming the file:

* :func:`checkpoint_safe_globals`: a context manager around ``torch.load(weights_only=True)``
  that admits the non-tensor classes mmengine checkpoints hold (the message hub's
  ``HistoryBuffer`` and numpy arrays/scalars) for the duration of one load, so that nothing
  about ``torch.load`` changes for the rest of the process.
* :func:`load_checkpoint_file`: ``torch.load`` of an mmengine/mmdret checkpoint under it.
* :func:`load_data_pickle`: a plain pickle of builtin containers, strings and numbers only.
* :func:`read_torchscript_state_dict`: the weights of a TorchScript archive (OpenAI's CLIP
  ``.pt``) read from its storage records; ``torch.jit.load`` would compile and run the code the
  archive carries (``__setstate__`` methods run at load time).
"""
import contextlib
import io
import pickle
import re
import zipfile
from collections import OrderedDict

import torch
import torch.jit._pickle


class UnsafeFileError(pickle.UnpicklingError):
    """A file that would need more than plain data to load; the message names the file.

    Args:
        path (str): the refused file, kept as :attr:`path`.
        reason (str): what the file would need (e.g. the refused global), for the message.
    """

    def __init__(self, path, reason):
        super().__init__(f'{path}: refused to load: {reason}. Only plain data (tensors, '
                         'numbers, strings, containers, mmengine checkpoint state) is read; '
                         'a file that needs other classes or functions may run code.')
        self.path = path


# HistoryBuffer pickles its statistics methods (``HistoryBuffer.min`` ...) as
# ``getattr(HistoryBuffer, 'min')``; only these attribute look-ups are admitted.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner, name):
    """``getattr`` as mmengine checkpoints use it: a statistics method of ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if owner is not HistoryBuffer or name not in _HISTORY_BUFFER_METHODS:
        raise pickle.UnpicklingError(
            f'getattr({getattr(owner, "__name__", type(owner).__name__)}, {name!r}) is not a '
            f'HistoryBuffer statistics method ({", ".join(_HISTORY_BUFFER_METHODS)})')
    return getattr(HistoryBuffer, name)


def mmengine_checkpoint_globals():
    """The exact non-tensor globals of an mmengine checkpoint, as ``safe_globals`` entries.

    ``Runner.save_checkpoint`` writes the message hub (``HistoryBuffer`` objects holding numpy
    arrays, numpy scalars in ``meta`` and ``runtime_info``); numpy arrays rebuild through
    ``_reconstruct`` + ``ndarray`` + ``dtype`` and scalars through ``scalar`` + ``dtype``
    (under ``numpy.core`` in files written with numpy 1, ``numpy._core`` with numpy 2). A
    rebuilt dtype is then an instance of its class (``numpy.dtypes.Float64DType`` ...), which
    must be admitted for its state to be set: those of the boolean, number, string and
    date/time dtypes (not ``object`` or structured ones). ``builtins.getattr`` is bound to
    :func:`_history_buffer_method`, not to ``getattr``.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = (getattr(np, '_core', None) or np.core).multiarray
    codes = '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat'] + 'SUMm'
    entries = [HistoryBuffer, np.ndarray, np.dtype,
               (_history_buffer_method, 'builtins.getattr'),
               *dict.fromkeys(type(np.dtype(code)) for code in codes)]
    for name in ('_reconstruct', 'scalar'):
        for package in ('numpy.core', 'numpy._core'):
            entries.append((getattr(multiarray, name), f'{package}.multiarray.{name}'))
    return entries


@contextlib.contextmanager
def checkpoint_safe_globals():
    """Admit :func:`mmengine_checkpoint_globals` to weights-only ``torch.load`` inside the block.

    The previous allow-list is restored on exit.
    """
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        yield


@contextlib.contextmanager
def naming_refused_file(path):
    """Re-raise an unpickling refusal inside the block as :class:`UnsafeFileError` for ``path``.

    Args:
        path (str | Path): the file loaded inside the block, named in the error.

    Raises:
        UnsafeFileError: on any ``pickle.UnpicklingError`` raised inside the block.
    """
    try:
        yield
    except UnsafeFileError:
        raise
    except pickle.UnpicklingError as error:
        raise UnsafeFileError(path, ' '.join(str(error).split())) from error


def load_checkpoint_file(path, map_location='cpu'):
    """``torch.load`` a checkpoint (plain or mmengine) with ``weights_only=True``.

    Args:
        path (str | Path): the file.
        map_location (str | torch.device | Callable | dict): as for :func:`torch.load`.
            Defaults to ``'cpu'``.

    Returns:
        Any: the loaded checkpoint (typically a dict).
    """
    with naming_refused_file(path), checkpoint_safe_globals():
        return torch.load(path, map_location=map_location, weights_only=True)


def load_model_checkpoint(model, filename, map_location='cpu', **kwargs):
    """mmengine's ``load_checkpoint`` (weights-only) under :func:`checkpoint_safe_globals`.

    Args:
        model (nn.Module): receives the weights.
        filename (str): the checkpoint (any source mmengine's ``CheckpointLoader`` reads).
        map_location (str | torch.device | Callable | dict): as for :func:`torch.load`.
            Defaults to ``'cpu'``.
        **kwargs (dict): more arguments of :func:`mmengine.runner.load_checkpoint` (``strict``...).

    Returns:
        dict: the loaded checkpoint.
    """
    from mmengine.runner import load_checkpoint
    with naming_refused_file(filename), checkpoint_safe_globals():
        return load_checkpoint(model, filename, map_location=map_location, **kwargs)


class _DataUnpickler(pickle.Unpickler):
    """Unpickles builtin containers, strings and numbers; refuses every class and function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f'global {module}.{name} is not plain data')

    def persistent_load(self, pid):
        raise pickle.UnpicklingError('persistent ids are not plain data')


def load_data_pickle(path):
    """Unpickle ``path``, admitting only builtin containers, strings and numbers.

    Args:
        path (str | Path): the pickle file.

    Returns:
        Any: the unpickled data.

    Raises:
        UnsafeFileError: the pickle refers to a class or function (naming it and the file).
    """
    with open(path, 'rb') as file, naming_refused_file(path):
        return _DataUnpickler(file).load()


class _ScriptObject:
    """Stands in for a TorchScript class instance: keeps its type name and attributes."""

    qualified_name = ''
    state = {}  # replaced (never mutated) by __setstate__

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f'{self.qualified_name} has a custom __setstate__ state, not attributes')
        self.state = state


_CLASS = re.compile(r'^class (\w+)\(Module\):$')
_MEMBERS = re.compile(r'^  (__parameters__|__buffers__) = \[(.*)\]$')


def _module_state_names(archive, prefix):
    """``{qualified class name: parameter and buffer names}`` read from the archive's code text
    (parsed as text, never compiled)."""
    names = {}
    for entry in archive.namelist():
        if not (entry.startswith(prefix + 'code/') and entry.endswith('.py')):
            continue
        module = entry[len(prefix + 'code/'):-len('.py')].replace('/', '.')
        current = None
        for line in archive.read(entry).decode('utf-8').splitlines():
            match = _CLASS.match(line)
            if match:
                current = names.setdefault(f'{module}.{match.group(1)}', [])
            elif current is not None and _MEMBERS.match(line):
                current.extend(re.findall(r'"([^"]*)"', _MEMBERS.match(line).group(2)))
    return names


_JIT_PICKLE_HELPERS = ('build_intlist', 'build_tensorlist', 'build_doublelist',
                       'build_boollist', 'build_tensor_from_id', 'restore_type_tag')


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl``: tensors from the archive's storage records and
    TorchScript objects as :class:`_ScriptObject`; refuses every other global."""

    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self.archive, self.prefix, self.classes = archive, prefix, {}

    def find_class(self, module, name):
        if module == 'torch._utils' and name == '_rebuild_tensor_v2':
            return _rebuild_tensor
        if module == 'torch' and name.endswith('Storage'):
            try:  # the record names a typed storage class; only its dtype is used
                return torch.storage._get_dtype_from_pickle_storage_type(name)
            except KeyError:
                pass
        if module == 'collections' and name == 'OrderedDict':
            return OrderedDict
        if module == 'torch.jit._pickle' and name in _JIT_PICKLE_HELPERS:
            return getattr(torch.jit._pickle, name)  # identity-like list/type-tag helpers
        if module == '__torch__' or module.startswith('__torch__.'):
            qualified_name = f'{module}.{name}'
            if qualified_name not in self.classes:
                self.classes[qualified_name] = type(
                    name, (_ScriptObject,), dict(qualified_name=qualified_name))
            return self.classes[qualified_name]
        raise pickle.UnpicklingError(f'global {module}.{name} is not TorchScript weight data')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'
                and isinstance(pid[1], torch.dtype)):
            raise pickle.UnpicklingError(f'persistent id {pid!r} is not a storage record')
        _, dtype, key, _, numel = pid
        data = bytearray(self.archive.read(f'{self.prefix}data/{key}'))
        storage = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        if storage.numel() != numel:
            raise pickle.UnpicklingError(f'storage {key} holds {storage.numel()} elements, '
                                         f'its record says {numel}')
        return storage


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *extra):
    del requires_grad, hooks, extra  # weights only
    return storage.as_strided(size, stride, offset)


def read_torchscript_state_dict(path):
    """The ``state_dict()`` of a TorchScript archive, read without loading its code.

    Parameters and buffers are told apart from other tensor attributes by the
    ``__parameters__`` / ``__buffers__`` lists of each class in the archive's code.

    Args:
        path (str | Path): a ``torch.jit.save`` archive.

    Raises:
        UnsafeFileError: the archive's data needs anything but tensors and TorchScript
            objects (naming it and the file).
    """
    with zipfile.ZipFile(path) as archive, naming_refused_file(path):
        data_files = [n for n in archive.namelist() if n.endswith('data.pkl')]
        if len(data_files) != 1:
            raise UnsafeFileError(path, f'expected one data.pkl, found {data_files}')
        prefix = data_files[0][:-len('data.pkl')]
        if archive.namelist().count(prefix + 'byteorder') and archive.read(
                prefix + 'byteorder').strip() not in (b'', b'little'):
            raise UnsafeFileError(path, 'big-endian archives are not supported')
        state_names = _module_state_names(archive, prefix)
        root = _ArchiveUnpickler(io.BytesIO(archive.read(data_files[0])), archive,
                                 prefix).load()
        if not isinstance(root, _ScriptObject):
            raise UnsafeFileError(path, 'data.pkl does not hold a TorchScript module')
        state_dict = OrderedDict()
        _collect_state(root, '', state_names, state_dict)
        return state_dict


def _collect_state(obj, prefix, state_names, state_dict):
    names = state_names.get(obj.qualified_name, ())
    for name in names:
        if isinstance(obj.state.get(name), torch.Tensor):
            state_dict[prefix + name] = obj.state[name]
    for name, value in obj.state.items():
        if isinstance(value, _ScriptObject) and value.qualified_name in state_names:
            _collect_state(value, f'{prefix}{name}.', state_names, state_dict)
