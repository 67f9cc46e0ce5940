"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process

import mmdret  # noqa: F401
from mmdret.registry import RUNNERS
from mmdret.utils import owned_process_group, setup_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a retrieval model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument('--dump', type=str, help='dump the per-query ranks to a pickle file')
    parser.add_argument('--out-metrics', type=str, help='write the metrics to this JSON file')
    parser.add_argument('--allow-missing-reranker', action='store_true',
                        help='score a stage-2 (re-ranker) config even when CHECKPOINT has no '
                        're-ranker weights (random denoisers; test_cfg.allow_missing_reranker)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    # Before any model or dataset is built; a URL checkpoint is left to mmengine's loader.
    for name, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if '://' not in path and not osp.isfile(path):
            parser.error(f'{name}: no such file: {path}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.allow_missing_reranker:
        cfg.test_cfg.allow_missing_reranker = True
    if args.dump is not None:
        evaluators = cfg.test_evaluator
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=args.dump)]
    cfg = setup_cpu_distributed(cfg, args.launcher)
    # mmengine checkpoints load only under SafeLoadRunner's allow-list (weights-only).
    cfg.setdefault('runner_type', 'mmdret.SafeLoadRunner')
    runner = RUNNERS.build(cfg)
    metrics = runner.test()
    if args.out_metrics and is_main_process():
        with open(args.out_metrics, 'w') as file:
            json.dump(metrics, file, indent=2)
    return metrics


if __name__ == '__main__':
    with owned_process_group():
        main()
