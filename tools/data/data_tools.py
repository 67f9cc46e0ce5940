"""Shared code of the data-preparation tools: check a download, re-encode its videos.

Used by ``tools/data/check_videos.py`` (any dataset config) and by the per-dataset
``tools/data/<dataset>/prepare_<dataset>.py`` scripts (a base config plus the paper's split
sizes). The annotations are read by the config's own dataset class, so the tools see exactly the
videos, paths and filters (e.g. the LSMDC clips the official loader drops) that training sees.

Check: every video of the chosen splits must exist and decode with decord, the library
:class:`~mmdret.datasets.transforms.LoadVideoFrames` uses; its first and last frame are read,
which catches the usual failures (empty or truncated downloads, ``cannot find video stream``).
The number of videos per split is compared with the expected (paper) count when one is known.

Re-encode (``--reencode``): the CLIP4Clip/X-Pool compression, 3 fps and short side 224, into a
mirror of the video folder. It is resumable: each video is written to a temporary name and
renamed when complete and decodable, and outputs that already decode with the requested fps and
size are skipped.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from pathlib import Path

from mmengine.config import Config, DictAction
from mmengine.utils import track_parallel_progress, track_progress

REPO_ROOT = Path(__file__).resolve().parents[2]
# Checked in this order, so that a val loader equal to the test loader (most base configs)
# is reported as an alias of ``test`` and compared with the test count.
SPLITS = dict(train='train_dataloader', test='test_dataloader', val='val_dataloader')
# The compression of CLIP4Clip's preprocess/compress_video.py, used by DiffusionRet and X-Pool.
REENCODE_FPS = 3
REENCODE_SHORT_SIDE = 224
OPENCV_FOURCC = 'mp4v'
TEMP_TAG = '.part'  # <stem>.part<ext>: keeps the extension, which picks the container
FPS_TOLERANCE = 0.1
MAX_LISTED = 10  # problems printed per split; the JSON report lists all


# -- datasets -------------------------------------------------------------------------------
def load_config(config, data_root=None, cfg_options=None):
    """Read a config; ``data_root`` replaces the data root of every split's dataset."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if data_root is not None:
        for key in SPLITS.values():
            if cfg.get(key) is not None:
                cfg[key]['dataset']['data_root'] = data_root
    return cfg


def build_split_dataset(cfg, split):
    """The (not yet loaded) dataset of a split, or None when the config has no such loader.

    The dataset is built lazily with an empty pipeline: the tokenizer and transforms are not
    needed, and ``full_init`` would stop at the first missing video
    (``missing_video_policy='raise'``) or drop the missing ones silently (``'skip'``), while this
    tool must list them all.
    """
    from mmengine.registry import init_default_scope

    import mmdret.datasets  # noqa: F401  (only the datasets: the models are slow to import)
    from mmdret.registry import DATASETS

    loader = cfg.get(SPLITS[split])
    if loader is None:
        return None
    init_default_scope('mmdret')
    dataset_cfg = dict(loader['dataset'], pipeline=[], lazy_init=True)
    dataset = DATASETS.build(dataset_cfg)
    if not (hasattr(dataset, 'load_video_captions') and hasattr(dataset, 'video_path')):
        raise TypeError(f'{type(dataset).__name__} ({split}) reads no video files: the data '
                        'tools support the video datasets of mmdret.datasets')
    return dataset


def annotated_videos(dataset):
    """``[(video_id, path, number of captions)]`` of a dataset, in annotation order."""
    return [(video_id, dataset.video_path(video_id), len(captions))
            for video_id, captions in dataset.load_video_captions()]


# -- decoding -------------------------------------------------------------------------------
def probe_video(path):
    """Open a video with decord and read its first and last frame.

    Returns:
        dict: ``num_frames``, ``fps``, ``height`` and ``width``.

    Raises:
        VideoDecodeError: the file cannot be opened or decoded (as in training).
    """
    import decord

    from mmdret.datasets.transforms import VideoDecodeError
    try:
        reader = decord.VideoReader(path, num_threads=1)
        num_frames = len(reader)
        if num_frames == 0:
            raise ValueError('the video has no frames')
        # The last frame catches truncated downloads, whose header still counts every frame.
        frames = reader.get_batch([0, num_frames - 1]).asnumpy()
    except Exception as error:  # decord raises its own error types, and RuntimeError
        raise VideoDecodeError(path, f'{type(error).__name__}: {error}') from error
    return dict(num_frames=num_frames, fps=float(reader.get_avg_fps()),
                height=int(frames.shape[1]), width=int(frames.shape[2]))


def other_extensions(path):
    """Files named like ``path`` but with another extension (``v_<id>.mkv`` for ``.mp4``), as
    the official loaders accept any; re-encoding can turn them into the configured name."""
    stem = osp.splitext(path)[0]
    return sorted(p for p in glob.glob(glob.escape(stem) + '.*')
                  if p != path and TEMP_TAG not in osp.basename(p))


def _check_task(task):
    """Pool task: ``(video_id, path)`` -> ``(video_id, path, status, error)``."""
    video_id, path = task
    if not osp.isfile(path):
        found = other_extensions(path)
        return video_id, path, 'missing', f'found {found}' if found else None
    try:
        probe_video(path)
    except Exception as error:
        return video_id, path, 'corrupt', str(error)
    return video_id, path, 'ok', None


def run_tasks(func, tasks, workers):
    """``func`` over ``tasks`` with a progress bar, in ``workers`` processes when > 1."""
    tasks = list(tasks)  # mmengine reads a tuple as (tasks, count)
    if not tasks:
        return []
    if workers > 1:
        return track_parallel_progress(func, tasks, min(workers, len(tasks)))
    return track_progress(func, tasks)


# -- check ----------------------------------------------------------------------------------
def check_split(dataset, workers=1, expected=None):
    """Report of one split: counts against ``expected`` and the missing/corrupt videos."""
    videos = annotated_videos(dataset)
    results = run_tasks(_check_task, [(video_id, path) for video_id, path, _ in videos],
                        workers)
    missing = [dict(video_id=v, path=p, **({'note': e} if e else {}))
               for v, p, status, e in results if status == 'missing']
    corrupt = [dict(video_id=v, path=p, error=e) for v, p, status, e in results
               if status == 'corrupt']
    video_dir = dataset.data_prefix.get('video', '')
    return dict(
        dataset=type(dataset).__name__, ann_file=dataset.ann_file, video_dir=video_dir,
        video_dir_exists=osp.isdir(video_dir), num_videos=len(videos),
        num_texts=sum(n for _, _, n in videos), expected_videos=expected,
        count_ok=None if expected is None else len(videos) == expected,
        num_ok=sum(status == 'ok' for *_, status, _ in results), missing=missing,
        corrupt=corrupt)


def split_ok(split_report):
    return ('error' not in split_report and not split_report.get('missing')
            and not split_report.get('corrupt') and split_report.get('count_ok') is not False)


def check_dataset(cfg, splits, workers=1, expected=None):
    """Check the chosen splits of a config; returns the report (``ok`` and ``splits``).

    A split whose loader equals one checked before (``test_dataloader = val_dataloader``) is
    recorded as ``{'same_as': <split>}``; a split whose annotations cannot be read gets
    ``{'error': <message>}``.
    """
    expected = expected or {}
    report, seen = dict(config=cfg.filename, splits={}), {}
    for split in splits:
        loader = cfg.get(SPLITS[split])
        if loader is None:
            continue
        key = repr(loader['dataset'])
        if key in seen:
            report['splits'][split] = dict(same_as=seen[key])
            continue
        seen[key] = split
        try:
            dataset = build_split_dataset(cfg, split)
            print(f'Checking {split}: {type(dataset).__name__}, {dataset.ann_file}')
            report['splits'][split] = check_split(dataset, workers, expected.get(split))
        except (OSError, ValueError, TypeError, KeyError) as error:
            report['splits'][split] = dict(error=f'{type(error).__name__}: {error}')
    report['ok'] = all(split_ok(r) for r in report['splits'].values())
    return report


def format_summary(report):
    """A summary table of a check report, then the problems (at most MAX_LISTED a split)."""
    header = ('split', 'videos', 'expected', 'texts', 'ok', 'missing', 'corrupt', 'status')
    rows, notes = [header], []
    for split, r in report['splits'].items():
        if 'same_as' in r:
            rows.append((split, f'= {r["same_as"]}', '', '', '', '', '', ''))
            continue
        if 'error' in r:
            rows.append((split, '', '', '', '', '', '', 'ERROR'))
            notes.append(f'{split}: cannot read the annotations: {r["error"]}')
            continue
        expected = '?' if r['expected_videos'] is None else r['expected_videos']
        rows.append((split, r['num_videos'], expected, r['num_texts'], r['num_ok'],
                     len(r['missing']), len(r['corrupt']), 'OK' if split_ok(r) else 'FAIL'))
        if not r['video_dir_exists']:
            notes.append(f'{split}: the video folder {r["video_dir"]!r} does not exist')
        if r['count_ok'] is False:
            notes.append(f'{split}: {r["num_videos"]} videos in {r["ann_file"]}, the paper '
                         f'split has {r["expected_videos"]}')
        for kind in ('missing', 'corrupt'):
            for item in r[kind][:MAX_LISTED]:
                # the decode error names the file already
                notes.append(f'{split}: {kind} {item["video_id"]}: ' + item.get(
                    'error', f'no file {item["path"]}' + (f' ({item["note"]})'
                                                         if 'note' in item else '')))
            if len(r[kind]) > MAX_LISTED:
                notes.append(f'{split}: ... {len(r[kind]) - MAX_LISTED} more {kind} videos')
    if any('error' in r for r in report['splits'].values()):
        notes.append('The layout and official files of each dataset: '
                     'tools/data/<dataset>/README.md')
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ['  '.join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return '\n'.join(lines + notes + [f'Result: {"OK" if report["ok"] else "FAILED"}'])


# -- re-encoding ----------------------------------------------------------------------------
def find_ffmpeg():
    """The ffmpeg executable: on PATH, else the one of ``imageio-ffmpeg``; None if neither."""
    path = shutil.which('ffmpeg')
    if path:
        return path
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def select_backend(backend='auto'):
    """``'ffmpeg'`` or ``'opencv'``; ``'auto'`` prefers ffmpeg (H.264, smaller files)."""
    if backend not in ('auto', 'ffmpeg', 'opencv'):
        raise ValueError(f"backend must be 'auto', 'ffmpeg' or 'opencv', got {backend!r}")
    if backend == 'opencv':
        return backend
    if find_ffmpeg() is not None:
        return 'ffmpeg'
    if backend == 'ffmpeg':
        raise RuntimeError('ffmpeg was not found on PATH: install it (apt-get install ffmpeg, '
                           'or conda install -c conda-forge ffmpeg) or the pip package '
                           'imageio-ffmpeg, or use --backend opencv (MPEG-4 Part 2, larger '
                           'files)')
    return 'opencv'


def output_path(path, video_dir, out_dir, out_ext=None):
    """Where the re-encoded copy of ``path`` goes: the same relative path under ``out_dir``,
    with the extension replaced by ``out_ext`` when given."""
    rel = osp.relpath(path, video_dir)
    if out_ext:
        rel = osp.splitext(rel)[0] + out_ext
    return osp.join(out_dir, rel)


def temp_path(path):
    stem, ext = osp.splitext(path)
    return stem + TEMP_TAG + ext


def is_done(path, fps, short_side):
    """Whether ``path`` is a finished output: it decodes and has the requested fps and size."""
    if not osp.isfile(path):
        return False
    try:
        info = probe_video(path)
    except Exception:
        return False
    return (abs(info['fps'] - fps) <= FPS_TOLERANCE
            and min(info['height'], info['width']) == short_side)


def encode_ffmpeg(src, dst, fps, short_side):
    # -2 keeps the aspect ratio with an even side (H.264 needs it); CLIP4Clip's expression
    # shrinks portrait videos below the short side.
    scale = (f"scale='if(gt(iw,ih),-2,{short_side})':'if(gt(iw,ih),{short_side},-2)'")
    command = [find_ffmpeg(), '-y', '-loglevel', 'error', '-i', src, '-filter:v', scale,
               '-map', '0:v', '-r', str(fps), dst]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'ffmpeg failed: {result.stderr.strip()[-500:]}')


def resized_shape(height, width, short_side):
    """(height, width) with the short side ``short_side``, the other even and in proportion."""
    scale = short_side / min(height, width)

    def even(side):
        return max(2, int(round(side * scale / 2)) * 2)

    return (short_side, even(width)) if height <= width else (even(height), short_side)


def encode_opencv(src, dst, fps, short_side):
    """The OpenCV fallback: the source frame nearest to each output time (as ffmpeg's ``-r``
    does), resized to the short side, written as MPEG-4 Part 2 (``mp4v``)."""
    import cv2
    capture = cv2.VideoCapture(src)
    src_fps = capture.get(cv2.CAP_PROP_FPS)
    if not capture.isOpened() or not src_fps or src_fps <= 0:
        capture.release()
        raise RuntimeError('OpenCV cannot open the video or read its frame rate')
    writer, index, out_index, size = None, 0, 0, None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            # Output frame k shows the source frame nearest to time k / fps; a slow source
            # repeats frames, a fast one drops them.
            while int(round(out_index * src_fps / fps)) == index:
                if writer is None:
                    height, width = resized_shape(*frame.shape[:2], short_side)
                    size = (width, height)
                    writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*OPENCV_FOURCC), fps,
                                             size)
                    if not writer.isOpened():
                        raise RuntimeError(f'cv2.VideoWriter cannot write {dst}')
                interpolation = cv2.INTER_AREA if size[1] < frame.shape[0] else cv2.INTER_CUBIC
                writer.write(cv2.resize(frame, size, interpolation=interpolation))
                out_index += 1
            index += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise RuntimeError('no frame could be read')


ENCODERS = dict(ffmpeg=encode_ffmpeg, opencv=encode_opencv)


def _reencode_task(task):
    """Pool task: ``(video_id, src, dst, backend, fps, short_side)`` -> ``(video_id, status,
    error)`` with status ``'skipped'``, ``'encoded'`` or ``'failed'``."""
    video_id, src, dst, backend, fps, short_side = task
    if is_done(dst, fps, short_side):
        return video_id, 'skipped', None
    tmp = temp_path(dst)  # an interrupted run leaves at most this file, never a final name
    try:
        os.makedirs(osp.dirname(dst) or '.', exist_ok=True)
        if osp.exists(tmp):
            os.remove(tmp)
        ENCODERS[backend](src, tmp, fps, short_side)
        probe_video(tmp)
        os.replace(tmp, dst)
    except Exception as error:
        if osp.exists(tmp):
            os.remove(tmp)
        return video_id, 'failed', f'{type(error).__name__}: {error}'
    return video_id, 'encoded', None


def reencode_dataset(cfg, splits, out_dir, fps=REENCODE_FPS, short_side=REENCODE_SHORT_SIDE,
                     out_ext=None, backend='auto', workers=1):
    """Re-encode the existing videos of the chosen splits into a mirror under ``out_dir``.

    Returns:
        dict: ``backend``, the settings, and the ``encoded``, ``skipped`` and ``failed``
        (``{video_id, error}``) videos.
    """
    backend = select_backend(backend)
    tasks, seen = [], set()
    for split in splits:
        dataset = build_split_dataset(cfg, split)
        if dataset is None:
            continue
        video_dir = dataset.data_prefix.get('video', '')
        for video_id, path, _ in annotated_videos(dataset):
            # A file with another extension stands in for a missing one; the output keeps the
            # configured name, so the config reads the copies unchanged.
            src = path if osp.isfile(path) else next(iter(other_extensions(path)), None)
            if src is not None and path not in seen:
                seen.add(path)
                dst = output_path(path, video_dir, out_dir, out_ext)
                tasks.append((video_id, src, dst, backend, fps, short_side))
    print(f'Re-encoding {len(tasks)} videos to {out_dir} with {backend} ({fps} fps, short '
          f'side {short_side})')
    results = run_tasks(_reencode_task, tasks, workers)
    report = dict(backend=backend, out_dir=out_dir, fps=fps, short_side=short_side,
                  out_ext=out_ext, encoded=[], skipped=[], failed=[])
    for video_id, status, error in results:
        report[status].append(video_id if error is None else dict(video_id=video_id,
                                                                  error=error))
    return report


# -- command line ---------------------------------------------------------------------------
def parse_args(argv=None, config=None, description=None):
    """Arguments of check_videos.py (``config=None``: a CONFIG argument) and the prepare
    scripts (their base config given)."""
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
    args.config = args.config if config is None else str(REPO_ROOT / config)
    return args


def main(argv=None, config=None, expected=None, description=None):
    """Check (and optionally re-encode); returns the exit status (0: all checks passed).

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
        config (str, optional): a config path relative to the repository root (the prepare
            scripts); None makes CONFIG a positional argument.
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
