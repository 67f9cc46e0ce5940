"""A module with its own weight initialisation that mmengine's ``init_weights`` keeps."""
from mmengine.model import BaseModule


class DefaultInitModule(BaseModule):
    """A ``BaseModule`` whose :meth:`default_init` (the reference implementation's init) runs at
    construction and again whenever mmengine re-runs ``init_weights``, unless an ``init_cfg``
    replaces it (``init_cfg`` as in ``BaseModule``).
    """

    def default_init(self):
        """Initialise the weights as the reference implementation does."""
        raise NotImplementedError

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is None:
            self.default_init()
