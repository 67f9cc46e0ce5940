"""DiffusionRet and DITS text-video retrieval as an OpenMMLab (mmaction2) plugin.

``import mmdret`` is light: it applies :mod:`mmdret.compat` and lets mmengine resolve ``mmdret::``
config paths; models, datasets and the rest are imported by the registries when first used.
"""
from mmengine.config.utils import MODULE2PACKAGE

from . import compat
from .version import __version__

compat.apply()

# mmengine resolves `pkg::path` (`_base_`, mmengine.hub.get_config) only for the packages in this
# table (open-mmlab/mmengine#1410). The value names a module inside mmdret, not the distribution:
# mmengine then finds the package folder (and its .mim/) through the import system, right for
# wheel, editable and PYTHONPATH installs alike; by distribution it would look in site-packages,
# where an editable install has no mmdret/ folder.
MODULE2PACKAGE.setdefault('mmdret', 'mmdret.version')

__all__ = ['__version__']
