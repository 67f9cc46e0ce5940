import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdret.registry import HOOKS


@HOOKS.register_module()
class LogitScaleClampHook(Hook):
    """Clamp the CLIP logit scale after every training step (official: ``<= ln 100``).

    Args:
        max_value (float): upper bound of the (log) logit scale. Defaults to ``ln 100``.
        param_name (str): dotted name of the parameter in the model.
            Defaults to ``'encoder.clip.logit_scale'``.
    """
    priority = 'LOW'

    def __init__(self, max_value=math.log(100), param_name='encoder.clip.logit_scale'):
        self.max_value = max_value
        self.param_name = param_name

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.get_parameter(self.param_name).data.clamp_(max=self.max_value)
