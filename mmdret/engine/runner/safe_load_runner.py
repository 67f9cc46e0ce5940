"""A Runner whose checkpoint loads (``load_from``, ``resume``) admit mmengine's checkpoint state."""
from mmengine.runner import Runner

from mmdret.registry import RUNNERS
from mmdret.utils.safe_load import checkpoint_safe_globals, naming_refused_file


@RUNNERS.register_module()
class SafeLoadRunner(Runner):
    """mmengine's :class:`Runner`, loading checkpoints with ``weights_only=True`` and the exact
    allow-list of :func:`mmdret.utils.safe_load.mmengine_checkpoint_globals`.

    torch>=2.6 loads weights-only by default, and mmengine 0.10.7 checkpoints hold a message
    hub (``HistoryBuffer``, numpy values) that the default allow-list refuses, so a plain
    Runner cannot resume (open-mmlab/mmengine#1655). The allow-list is in force only while
    this runner loads a checkpoint; a file needing anything else is refused with an
    :class:`~mmdret.utils.safe_load.UnsafeFileError` naming it. Selected by
    ``runner_type = 'mmdret.SafeLoadRunner'`` (mmdret's default runtime sets it).
    """

    def load_checkpoint(self, filename, *args, **kwargs):
        with naming_refused_file(filename), checkpoint_safe_globals():
            return super().load_checkpoint(filename, *args, **kwargs)
