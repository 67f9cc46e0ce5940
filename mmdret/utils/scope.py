import functools

from mmengine.registry import DefaultScope


def in_mmdret_scope(init):
    """Run a constructor with ``mmdret`` as the default scope.

    Composite modules build their parts from unprefixed names (``SymmetricInfoNCELoss``); under
    an mmaction2 config (``default_scope='mmaction'``) those names would be looked up in
    mmaction's registries. Inside the mmdret scope mmaction/mmengine names still resolve
    through the parent registries.

    Args:
        init (Callable): the ``__init__`` to wrap (used as a decorator).

    Returns:
        Callable: the wrapped constructor, with the same signature.
    """

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        with DefaultScope.overwrite_default_scope('mmdret'):
            return init(self, *args, **kwargs)

    return wrapper
