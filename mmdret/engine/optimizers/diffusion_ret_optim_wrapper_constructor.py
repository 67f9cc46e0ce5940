from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.logging import print_log

from mmdret.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DiffusionRetOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """The official DiffusionRet parameter groups: {CLIP, rest} x {decay, no-decay}.

    CLIP parameters get ``lr * clip_lr_mult`` (official 1e-4 * 1e-3 = 1e-7); parameters whose
    name contains any of ``no_decay_keys`` get no weight decay. The official key list matches by
    substring, so CLIP's LayerNorms (named ``ln_*``) keep their weight decay and every bias loses
    it; mmengine's ``paramwise_cfg`` cannot express this, hence this constructor. Frozen
    parameters are left out.

    ``paramwise_cfg`` fields:
        clip_prefixes (Sequence[str]): parameter-name prefixes of CLIP.
            Defaults to ``('encoder.clip.',)``.
        clip_lr_mult (float): CLIP lr multiplier (official ``coef_lr``). Defaults to 1e-3.
        no_decay_keys (Sequence[str]): substrings that disable weight decay.
            Defaults to ``('bias', 'LayerNorm.bias', 'LayerNorm.weight')`` (official).

    Args:
        optim_wrapper_cfg (dict): the optimizer wrapper config (``optimizer`` with its ``lr``
            and ``weight_decay``), as for mmengine's ``DefaultOptimWrapperConstructor``.
        paramwise_cfg (dict, optional): the fields above; missing ones take their defaults.
            Defaults to None (all defaults).
    """

    DEFAULTS = dict(clip_prefixes=('encoder.clip.',), clip_lr_mult=1e-3,
                    no_decay_keys=('bias', 'LayerNorm.bias', 'LayerNorm.weight'))

    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
        # Never empty: mmengine skips add_params when paramwise_cfg is empty.
        super().__init__(optim_wrapper_cfg, dict(self.DEFAULTS, **(paramwise_cfg or {})))

    def add_params(self, params, module, prefix='', is_dcn_module=None):
        cfg = self.paramwise_cfg
        clip_prefixes = tuple(cfg['clip_prefixes'])
        clip_lr_mult = cfg['clip_lr_mult']
        no_decay_keys = tuple(cfg['no_decay_keys'])
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            is_clip = name.startswith(clip_prefixes)
            decay = not any(key in name for key in no_decay_keys)
            groups.setdefault((is_clip, decay), []).append(param)
        for (is_clip, decay), group in sorted(groups.items()):
            params.append(dict(
                params=group,
                lr=self.base_lr * (clip_lr_mult if is_clip else 1.0),
                weight_decay=self.base_wd if decay else 0.0))
            print_log(f'param group clip={is_clip} decay={decay}: {len(group)} tensors, '
                      f'lr {params[-1]["lr"]:.2e}', logger='current')
