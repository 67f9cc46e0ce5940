import os

import torch
import torch.distributed as torch_dist
from mmengine.registry import Registry, init_default_scope


def register_all_modules(init_default_scope_=True):
    """Fill every mmdret registry at once; optionally make ``mmdret`` the default scope.

    Each registry of :mod:`mmdret.registry` names the packages its modules live in
    (``locations``) and imports them on its first lookup; this imports them all now, so that
    registries can also be listed or searched before any lookup.

    Args:
        init_default_scope_ (bool): also set ``default_scope='mmdret'``. Defaults to True.
    """
    from mmdret import registry
    for value in vars(registry).values():
        if isinstance(value, Registry) and value.scope == 'mmdret':
            value.import_from_location()
    if init_default_scope_:
        init_default_scope('mmdret')


def setup_cpu_distributed(cfg, launcher):
    """Make ``launcher='pytorch'`` work without CUDA: gloo, and DDP without device ids.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its DDP wrapper
    passes ``device_ids=[LOCAL_RANK]``; both fail on CPU-only machines.

    Does nothing with ``launcher='none'`` or when CUDA is available. Otherwise the process group is
    initialised with gloo from ``RANK`` and ``WORLD_SIZE`` (unless it exists) and the model wrapper
    is set to ``MMDistributedDataParallel`` without device ids.

    Args:
        cfg (Config): the run's config, updated in place (``env_cfg.dist_cfg.backend`` and
            ``model_wrapper_cfg``).
        launcher (str): the job launcher, ``'none'``, ``'pytorch'``, ...

    Returns:
        Config: ``cfg``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.update(device_ids=None, broadcast_buffers=False,
                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    return cfg
