"""Import files of ``tools/`` (a scripts folder, not a package) by their path."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_module(path, name=None):
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or f'tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(*parts):
    """``load_tool('data', 'make_demo_dataset.py')`` imports ``tools/data/make_demo_dataset.py``."""
    return load_module(ROOT.joinpath('tools', *parts))
