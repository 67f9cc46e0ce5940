import os.path as osp

from mmengine.hooks import Hook

from mmdret.registry import HOOKS


@HOOKS.register_module()
class RequireLoadFromHook(Hook):
    """Stop at start when a run needs initial weights (``load_from``) and has none.

    DiffusionRet stage 2 freezes the stage-1 encoder; training it from a random encoder would
    run to the end and produce a useless model, so the stage-2 configs require the stage-1
    checkpoint.

    Args:
        what (str): what the checkpoint should be, for the message.
            Defaults to ``'the stage-1 checkpoint'``.
    """
    priority = 'VERY_HIGH'

    def __init__(self, what='the stage-1 checkpoint'):
        self.what = what

    def before_run(self, runner):
        load_from = runner.cfg.get('load_from')
        if runner.cfg.get('resume') and load_from is None:
            return  # resuming from work_dir's latest checkpoint
        if load_from is None:
            raise ValueError(f'{runner.cfg.filename}: load_from is not set; this config needs '
                             f'{self.what} (set load_from=... or --cfg-options load_from=PATH)')
        if not osp.isfile(load_from):
            raise FileNotFoundError(f'{runner.cfg.filename}: load_from {load_from!r} does not '
                                    f'exist; it should be {self.what}')
