"""Retrieval figures of a checkpoint on its config's test set, as PNG: similarity heatmap, rank
histograms and, for a DiffusionRet stage-2 model, per-query diffusion trajectories.

Usage::

    python tools/analysis/plot_retrieval.py CONFIG CHECKPOINT --out-dir DIR \\
        [--num-queries 32] [--num-trajectories 4] [--work-dir DIR] [--cfg-options KEY=VALUE]

Runs the config's test loop (``RetrievalTestLoop``: the sharded, chunked scoring of
``tools/test.py``) with a :class:`mmdret.engine.hooks.RetrievalVisualizationHook` added, which
writes the figures, and the data they plot (``.npy`` / ``.npz``), to ``DIR/test/``.
"""
import argparse
import glob
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmdret  # noqa: F401

HOOK = 'RetrievalVisualizationHook'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='folder of the figures')
    parser.add_argument('--num-queries', type=int, default=32,
                        help='side of the heatmap: the first N queries x the first N candidates')
    parser.add_argument('--num-trajectories', type=int, default=4,
                        help='queries per direction whose diffusion trajectory is drawn '
                        '(stage-2 models)')
    parser.add_argument('--work-dir', help='folder of the run logs (default: --out-dir)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the test set and return the written PNG paths."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or args.out_dir
    cfg.load_from = args.checkpoint
    # This hook replaces one the config may already have (its own settings and folder).
    hooks = [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') != HOOK]
    cfg.custom_hooks = hooks + [dict(type=HOOK, block_size=args.num_queries,
                                     num_trajectories=args.num_trajectories,
                                     out_dir=args.out_dir, add_to_visualizer=False)]
    Runner.from_cfg(cfg).test()
    paths = sorted(glob.glob(osp.join(args.out_dir, 'test', '*.png')))
    print('\n'.join(paths))
    return paths


if __name__ == '__main__':
    main()
