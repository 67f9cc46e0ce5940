"""Train a model from an mmdret (or mmaction2) config: ``python tools/train.py CONFIG``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

import mmdret  # noqa: F401  (applies the upstream fixes, fills the registries)
from mmdret.registry import RUNNERS
from mmdret.utils import owned_process_group, setup_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a retrieval model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or the latest in work_dir')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual vs the config base batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-rank-seed', action='store_true',
                        help='use a different seed on every rank')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic cuDNN')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'config: no such file: {args.config}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    # First, so that the flags below act on the overridden config (e.g. --no-validate).
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    randomness = dict(cfg.get('randomness') or {})
    if args.seed is not None:
        randomness['seed'] = args.seed
    randomness.update(diff_rank_seed=args.diff_rank_seed, deterministic=args.deterministic)
    cfg.randomness = randomness
    cfg.launcher = args.launcher
    return setup_cpu_distributed(cfg, args.launcher)


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    # mmengine checkpoints load only under SafeLoadRunner's allow-list (weights-only).
    cfg.setdefault('runner_type', 'mmdret.SafeLoadRunner')
    runner = RUNNERS.build(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    with owned_process_group():
        main()
