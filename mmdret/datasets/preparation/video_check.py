"""Check a dataset download: every annotated video of a split exists and decodes.

The annotations are read by the config's own dataset class, so the check sees exactly the
videos, paths and filters (e.g. the LSMDC clips the official loader drops) that training sees.
Every video must exist and decode with decord, the library
:class:`~mmdret.datasets.transforms.LoadVideoFrames` uses; its first and last frame are read,
which catches the usual failures (empty or truncated downloads, ``cannot find video stream``).
The number of videos per split is compared with the expected (paper) count when one is known.
"""
import glob
import os.path as osp

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import track_parallel_progress, track_progress

from mmdret.registry import DATASETS
from ..transforms import VideoDecodeError

# Checked in this order, so that a val loader equal to the test loader (most base configs)
# is reported as an alias of ``test`` and compared with the test count.
SPLITS = dict(train='train_dataloader', test='test_dataloader', val='val_dataloader')
TEMP_TAG = '.part'  # <stem>.part<ext>: keeps the extension, which picks the container
MAX_LISTED = 10  # problems printed per split; the JSON report lists all


# -- datasets -------------------------------------------------------------------------------
def load_config(config, data_root=None, cfg_options=None):
    """Read a config; ``data_root`` replaces the data root of every split's dataset.

    Args:
        config (str): config file.
        data_root (str, optional): dataset folder to use instead of the configured one. Defaults to
            None.
        cfg_options (dict, optional): config overrides, key=value. Defaults to None.
    """
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

    Args:
        cfg (Config): the config (see :func:`load_config`).
        split (str): a key of :data:`SPLITS`.
    """
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
    """``[(video_id, path, number of captions)]`` of a dataset, in annotation order.

    Args:
        dataset (BaseRetrievalDataset): a (lazily built) video retrieval dataset.
    """
    return [(video_id, dataset.video_path(video_id), len(captions))
            for video_id, captions in dataset.load_video_captions()]


# -- decoding -------------------------------------------------------------------------------
def probe_video(path):
    """Open a video with decord and read its first and last frame.

    Args:
        path (str): the video file.

    Returns:
        dict: ``num_frames``, ``fps``, ``height`` and ``width``.

    Raises:
        VideoDecodeError: the file cannot be opened or decoded (as in training).
    """
    import decord

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
    the official loaders accept any; re-encoding can turn them into the configured name.

    Args:
        path (str): the configured video file.
    """
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
    """``func`` over ``tasks`` with a progress bar, in ``workers`` processes when > 1.

    Args:
        func (callable): a picklable function of one task.
        tasks (Iterable): the tasks.
        workers (int): processes.
    """
    tasks = list(tasks)  # mmengine reads a tuple as (tasks, count)
    if not tasks:
        return []
    if workers > 1:
        return track_parallel_progress(func, tasks, min(workers, len(tasks)))
    return track_progress(func, tasks)


# -- check ----------------------------------------------------------------------------------
def check_split(dataset, workers=1, expected=None):
    """Report of one split: counts against ``expected`` and the missing/corrupt videos.

    Args:
        dataset (BaseRetrievalDataset): the split's dataset.
        workers (int): processes. Defaults to 1.
        expected (int, optional): expected number of videos. Defaults to None.
    """
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
    """Whether a split report has no error, no missing or corrupt video and no count mismatch.

    Args:
        split_report (dict): a split of :func:`check_dataset`'s report.
    """
    return ('error' not in split_report and not split_report.get('missing')
            and not split_report.get('corrupt') and split_report.get('count_ok') is not False)


def check_dataset(cfg, splits, workers=1, expected=None):
    """Check the chosen splits of a config; returns the report (``ok`` and ``splits``).

    A split whose loader equals one checked before (``test_dataloader = val_dataloader``) is
    recorded as ``{'same_as': <split>}``; a split whose annotations cannot be read gets
    ``{'error': <message>}``.

    Args:
        cfg (Config): the config (see :func:`load_config`).
        splits (list[str]): keys of :data:`SPLITS` to check.
        workers (int): processes. Defaults to 1.
        expected (dict, optional): expected videos per split. Defaults to None.
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
    """A summary table of a check report, then the problems (at most MAX_LISTED a split).

    Args:
        report (dict): a report of :func:`check_dataset`.
    """
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
