"""Command line of the data-preparation tools (``tools/data/check_videos.py`` and the
per-dataset ``tools/data/<dataset>/prepare_<dataset>.py`` scripts): check, then optionally
re-encode."""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from .video_check import MAX_LISTED, SPLITS, check_dataset, format_summary, load_config
from .video_reencode import REENCODE_FPS, REENCODE_SHORT_SIDE, reencode_dataset


# -- command line ---------------------------------------------------------------------------
def parse_args(argv=None, config=None, description=None):
    """Arguments of check_videos.py (``config=None``: a CONFIG argument) and the prepare
    scripts (their base config given).

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
        config (str, optional): the config file, when the caller fixes it. Defaults to None.
        description (str, optional): the ``--help`` text. Defaults to None.
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if config is None:
        parser.add_argument('config', help='dataset or model config file')
    parser.add_argument('--data-root', help='dataset folder (default: the config data_root)')
    parser.add_argument('--split', choices=[*SPLITS, 'all'], default='all',
                        help='the loader(s) to check (default all)')
    parser.add_argument('--out', help='write the JSON report to this file')
    parser.add_argument('--workers', type=int, default=1, help='processes (default 1)')
    parser.add_argument('--expected', nargs='+', action=DictAction, default={},
                        help='expected videos per split, e.g. train=9000 test=1000')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    group = parser.add_argument_group('re-encoding')
    group.add_argument('--reencode', action='store_true',
                       help='also re-encode the existing videos into --out-dir')
    group.add_argument('--out-dir', help='folder of the re-encoded videos (mirrors names)')
    group.add_argument('--fps', type=float, default=REENCODE_FPS,
                       help=f'output frame rate (default {REENCODE_FPS})')
    group.add_argument('--short-side', type=int, default=REENCODE_SHORT_SIDE,
                       help=f'output short side in pixels (default {REENCODE_SHORT_SIDE})')
    group.add_argument('--out-ext', help="output extension, e.g. '.mp4' (default: the "
                       "source's; set the dataset's video_ext to match)")
    group.add_argument('--backend', choices=['auto', 'ffmpeg', 'opencv'], default='auto',
                       help='auto: ffmpeg if found, else OpenCV')
    args = parser.parse_args(argv)
    if args.reencode and not args.out_dir:
        parser.error('--reencode needs --out-dir')
    if config is not None:
        args.config = config
    return args


def main(argv=None, config=None, expected=None, description=None):
    """Check (and optionally re-encode); returns the exit status (0: all checks passed).

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
        config (str, optional): the config file to check (the prepare scripts give their
            dataset's base config); None makes CONFIG a positional argument.
        expected (dict, optional): videos per split of the paper's split; ``--expected``
            overrides it.
        description (str, optional): the ``--help`` text.
    """
    args = parse_args(argv, config, description)
    cfg = load_config(args.config, args.data_root, args.cfg_options)
    splits = list(SPLITS) if args.split == 'all' else [args.split]
    expected = {**(expected or {}), **{k: int(v) for k, v in args.expected.items()}}
    report = check_dataset(cfg, splits, args.workers, expected)
    print(format_summary(report))
    status = 0 if report['ok'] else 1
    if args.reencode:
        try:
            report['reencode'] = reencode_dataset(
                cfg, [s for s, r in report['splits'].items() if 'num_videos' in r],
                args.out_dir, args.fps, args.short_side, args.out_ext, args.backend,
                args.workers)
        except (RuntimeError, ValueError) as error:
            print(f'Re-encoding not possible: {error}', file=sys.stderr)
            return 2
        done = report['reencode']
        print(f'Re-encoded {len(done["encoded"])}, skipped {len(done["skipped"])} done before, '
              f'{len(done["failed"])} failed; point the config at them with --cfg-options '
              f'<loader>.dataset.data_prefix.video={osp.abspath(args.out_dir)}')
        for item in done['failed'][:MAX_LISTED]:
            print(f'failed {item["video_id"]}: {item["error"]}')
        status = status or int(bool(done['failed']))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as file:
            json.dump(report, file, indent=2)
        print(f'Report written to {args.out}')
    return status
