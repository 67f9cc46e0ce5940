"""Annotation writers of the demo dataset, one per real dataset's official file formats.

Every writer takes the same arguments and writes the files the dataset's class reads:

- ``ann_dir`` (Path): the annotation folder;
- ``clips`` (list[Clip]): the planned clips, train first;
- ``info`` (dict): the generator's settings (written where the format has a place for them);
- ``duration`` (float): the clip length in seconds.

It returns the files it wrote (name -> path) and, for each clip in order, its video file
relative to ``videos/``.
"""
import csv
import itertools
import json
import math
import pickle
from pathlib import Path
from typing import Callable

from .moving_shapes import Clip

def write_lines(path: Path, lines) -> None:
    """Write one line per item.

    Args:
        path (Path): output file.
        lines (Iterable[str]): the lines.
    """
    path.write_text(''.join(f'{line}\n' for line in lines))


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON.

    Args:
        path (Path): output file.
        data (Any): JSON-serialisable data.
    """
    with open(path, 'w') as f:
        json.dump(data, f)


def write_csv_rows(path: Path, rows, header=None, delimiter=',') -> None:
    """Write rows (and a header) as delimited text with ``\n`` line ends.

    Args:
        path (Path): output file.
        rows (Iterable[list]): the rows.
        header (list, optional): the header row. Defaults to None.
        delimiter (str): field separator. Defaults to ','.
    """
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator='\n')
        if header:
            writer.writerow(header)
        writer.writerows(rows)


def split_files(ann_dir: Path, names: dict[str, tuple[str, str]],
                clips: list[Clip], ids: list[str], write_split) -> dict:
    """Per split (train, then test), ``write_split(files, items)``: ``files``
    the split's files (``names[key] = (train name, test name)``), ``items``
    its ``(clip, dataset id)`` pairs. Returns all paths as ``<split>_<key>``.

    Args:
        ann_dir (Path): the annotation folder.
        names (dict): file key -> (train name, test name).
        clips (list[Clip]): the planned clips.
        ids (list[str]): each clip's id in the dataset.
        write_split (callable): writes one split's files.
    """
    paths = {}
    for split in ('train', 'test'):
        items = [(c, i) for c, i in zip(clips, ids) if c.split == split]
        files = {key: ann_dir / pair[split == 'test']
                 for key, pair in names.items()}
        write_split(files, items)
        paths.update({f'{split}_{key}': path for key, path in files.items()})
    return paths


# A writer returns the annotation files it wrote (name -> path) and, for each
# clip in order, its video file relative to ``videos/``.
Written = tuple[dict[str, Path], list[str]]


def per_split_format(names: dict[str, tuple[str, str]], clip_id: Callable[[Clip, float], str],
                     video_file: str = '{}.mp4'):
    """Make a writer (see the module docstring) from a function writing one split's files.

    The decorated ``write_split(files, items, duration)`` is called for train, then test, with
    ``files`` the split's files by key, ``items`` its ``(clip, dataset id)`` pairs (see
    :func:`split_files`) and ``duration`` the clip length in seconds; its docstring becomes the
    writer's.

    Args:
        names (dict): file key -> (train name, test name).
        clip_id (callable): a clip's id in the dataset, from the clip and the duration.
        video_file (str): the video file of an id, relative to ``videos/``. Defaults to
            ``'{}.mp4'``.
    """

    def decorate(write_split):

        def writer(ann_dir: Path, clips: list[Clip], info: dict, duration: float) -> Written:
            ids = [clip_id(clip, duration) for clip in clips]
            paths = split_files(ann_dir, names, clips, ids,
                                lambda files, items: write_split(files, items, duration))
            return paths, [video_file.format(i) for i in ids]

        writer.__doc__ = write_split.__doc__
        writer.__name__ = write_split.__name__
        return writer

    return decorate


def write_msrvtt(ann_dir: Path, clips: list[Clip], info: dict,
                 duration: float) -> Written:
    """The three MSRVTT files; videos ``<video_id>.mp4``.

    Args:
        ann_dir (Path): the annotation folder.
        clips (list[Clip]): the planned clips, train first.
        info (dict): the generator's settings (written as the ``info`` of ``MSRVTT_data.json``).
        duration (float): the clip length in seconds.

    Returns:
        tuple[dict[str, Path], list[str]]: the files written (name -> path) and, for each clip
        in order, its video file relative to ``videos/``.
    """
    paths = {
        'train_csv': ann_dir / 'MSRVTT_train.9k.csv',
        'data_json': ann_dir / 'MSRVTT_data.json',
        'test_csv': ann_dir / 'MSRVTT_JSFUSION_test.csv',
    }
    train = [c for c in clips if c.split == 'train']
    test = [c for c in clips if c.split == 'test']

    write_csv_rows(paths['train_csv'], ([c.video_id] for c in train),
                   header=['video_id'])

    videos, sentences = [], []
    for index, clip in enumerate(clips):
        videos.append({
            'category': 0,
            'url': '',
            'video_id': clip.video_id,
            'start time': 0.0,
            'end time': duration,
            'split': clip.split,
            'id': index,
            **dict(zip(('shape', 'colour', 'size', 'direction'),
                       clip.attributes)),
        })
        for caption in clip.captions:
            sentences.append({
                'caption': caption,
                'video_id': clip.video_id,
                'sen_id': len(sentences),
            })
    write_json(paths['data_json'],
               {'info': info, 'videos': videos, 'sentences': sentences})
    write_csv_rows(paths['test_csv'], (
        [f'ret{i}', f'msr{clip.video_id.removeprefix("video")}', clip.video_id,
         clip.captions[0]] for i, clip in enumerate(test)),
        header=['key', 'vid_key', 'video_id', 'sentence'])
    return paths, [f'{clip.video_id}.mp4' for clip in clips]


def sentence_spans(clip: Clip, duration: float) -> list[tuple[float, float]]:
    """Each caption's moment: an equal consecutive share of the clip.

    Args:
        clip (Clip): the clip.
        duration (float): clip length in seconds.
    """
    share = duration / len(clip.captions)
    return [(round(k * share, 2), round((k + 1) * share, 2))
            for k in range(len(clip.captions))]


def lsmdc_time(seconds: float) -> str:
    """``seconds`` as LSMDC writes times in clip names, ``hh.mm.ss.mmm``.

    Args:
        seconds (float): a time in seconds.
    """
    millis = round(seconds * 1000)
    return (f'{millis // 3600000:02d}.{millis // 60000 % 60:02d}.'
            f'{millis // 1000 % 60:02d}.{millis % 1000:03d}')


def write_lsmdc(ann_dir: Path, clips: list[Clip], info: dict,
                duration: float) -> Written:
    """LSMDC16 tab-separated files; clips cut from one movie per split.

    Args:
        ann_dir (Path): the annotation folder.
        clips (list[Clip]): the planned clips, train first.
        info (dict): the generator's settings (unused by this format).
        duration (float): the clip length in seconds.

    Returns:
        tuple[dict[str, Path], list[str]]: the files written (name -> path) and, for each clip
        in order, its video file relative to ``videos/``.
    """
    movies = {'train': '0001_Moving_Shapes', 'test': '1001_Moving_Shapes'}
    ids, times, count = [], {}, {'train': 0, 'test': 0}
    for clip in clips:
        start = count[clip.split] * duration
        count[clip.split] += 1
        span = [lsmdc_time(start), lsmdc_time(start + duration)]
        ids.append(f'{movies[clip.split]}_{span[0]}-{span[1]}')
        times[ids[-1]] = span * 2  # aligned and extracted (start, end)

    def write_split(files, items):
        # The public test has one sentence per clip, training one per row.
        write_csv_rows(files['ann'], (
            [clip_id, *times[clip_id], caption]
            for clip, clip_id in items
            for caption in (clip.captions[:1] if clip.split == 'test'
                            else clip.captions)), delimiter='\t')

    paths = split_files(
        ann_dir, {'ann': ('LSMDC16_annos_training.csv',
                          'LSMDC16_challenge_1000_publictect.csv')},
        clips, ids, write_split)
    return paths, [f'{movies[c.split]}/{i}.avi' for c, i in zip(clips, ids)]


def write_msvd(ann_dir: Path, clips: list[Clip], info: dict,
               duration: float) -> Written:
    """CLIP4Clip MSVD: split lists and raw-captions.pkl (token lists).

    Args:
        ann_dir (Path): the annotation folder.
        clips (list[Clip]): the planned clips, train first.
        info (dict): the generator's settings (unused by this format).
        duration (float): the clip length in seconds.

    Returns:
        tuple[dict[str, Path], list[str]]: the files written (name -> path) and, for each clip
        in order, its video file relative to ``videos/``.
    """
    ids = [f'{c.video_id}_0_{math.ceil(duration)}' for c in clips]
    paths = split_files(
        ann_dir, {'list': ('train_list.txt', 'test_list.txt')}, clips, ids,
        lambda files, items: write_lines(files['list'], (i for _, i in items)))
    paths['captions'] = ann_dir / 'raw-captions.pkl'
    with open(paths['captions'], 'wb') as f:
        pickle.dump({i: [caption.split() for caption in c.captions]
                     for c, i in zip(clips, ids)}, f)
    return paths, [f'{i}.avi' for i in ids]


@per_split_format(
    {'ann': ('vatex_training_v1.0.json', 'vatex_validation_v1.0.json'),
     'ids': ('hgr_train_ids.txt', 'hgr_test_ids.txt')},
    clip_id=lambda clip, duration: f'{clip.video_id}_000000_{math.ceil(duration):06d}')
def write_vatex(files, items, duration):
    """VATEX v1.0 json (English captions) and HGR-style split lists.

    :func:`per_split_format` makes this one-split function into a writer taking ``(ann_dir,
    clips, info, duration)`` (see the module docstring) that calls it for train, then test; the
    arguments below are those of one split's call.

    Args:
        files (dict[str, Path]): the split's files by key:
            ``ann`` (the VATEX json) and ``ids`` (the id list).
        items (list[tuple[Clip, str]]): the split's ``(clip, dataset id)`` pairs.
        duration (float): the clip length in seconds.
    """
    write_json(files['ann'], [
        {'videoID': i, 'enCap': list(c.captions), 'chCap': []}
        for c, i in items])
    write_lines(files['ids'], (i for _, i in items))


@per_split_format(
    {'ann': ('train.json', 'val_1.json'), 'ids': ('train_ids.json', 'val_ids.json')},
    clip_id=lambda clip, duration: f'v_{clip.video_id}')
def write_activitynet(files, items, duration):
    """ActivityNet Captions train.json / val_1.json and the id lists.

    :func:`per_split_format` makes this one-split function into a writer taking ``(ann_dir,
    clips, info, duration)`` (see the module docstring) that calls it for train, then test; the
    arguments below are those of one split's call.

    Args:
        files (dict[str, Path]): the split's files by key:
            ``ann`` (the captions json) and ``ids`` (the id list json).
        items (list[tuple[Clip, str]]): the split's ``(clip, dataset id)`` pairs.
        duration (float): the clip length in seconds.
    """
    # The release's sentences after the first start with a space.
    write_json(files['ann'], {
        i: {'duration': float(duration),
            'timestamps': [list(t) for t in sentence_spans(c, duration)],
            'sentences': [c.captions[0]] + [' ' + s for s in c.captions[1:]]}
        for c, i in items})
    write_json(files['ids'], [i for _, i in items])


def write_didemo(ann_dir: Path, clips: list[Clip], info: dict,
                 duration: float) -> Written:
    """DiDeMo {split}_data.json (5-second chunks) and {split}_list.txt.

    Args:
        ann_dir (Path): the annotation folder.
        clips (list[Clip]): the planned clips, train first.
        info (dict): the generator's settings (unused by this format).
        duration (float): the clip length in seconds.

    Returns:
        tuple[dict[str, Path], list[str]]: the files written (name -> path) and, for each clip
        in order, its video file relative to ``videos/``.
    """
    ids = [f'shapes@N00_{c.video_id}.mp4' for c in clips]
    num_chunks = min(6, math.ceil(duration / 5))
    annotation_ids = itertools.count(1)

    def entries(clip, video):
        for caption, (start, end) in zip(clip.captions,
                                         sentence_spans(clip, duration)):
            first = min(int(start // 5), num_chunks - 1)
            last = min(max(first, math.ceil(end / 5) - 1), num_chunks - 1)
            yield {'annotation_id': next(annotation_ids),
                   'description': caption, 'times': [[first, last]] * 4,
                   'video': video, 'num_segments': num_chunks}

    def write_split(files, items):
        write_json(files['ann'], [e for c, i in items for e in entries(c, i)])
        write_lines(files['list'], (i for _, i in items))

    paths = split_files(
        ann_dir, {'ann': ('train_data.json', 'test_data.json'),
                  'list': ('train_list.txt', 'test_list.txt')},
        clips, ids, write_split)
    return paths, ids


CHARADES_HEADER = ['id', 'subject', 'scene', 'quality', 'relevance',
                   'verified', 'script', 'objects', 'descriptions', 'actions',
                   'length']


@per_split_format(
    {'ann': ('Charades_v1_train.csv', 'Charades_v1_test.csv')},
    clip_id=lambda clip, duration: f'S{clip.video_id.removeprefix("video").zfill(4)}')
def write_charades(files, items, duration):
    """Charades_v1_{train,test}.csv: the script is the first caption.

    :func:`per_split_format` makes this one-split function into a writer taking ``(ann_dir,
    clips, info, duration)`` (see the module docstring) that calls it for train, then test; the
    arguments below are those of one split's call.

    Args:
        files (dict[str, Path]): the split's files by key:
            ``ann`` (the csv).
        items (list[tuple[Clip, str]]): the split's ``(clip, dataset id)`` pairs.
        duration (float): the clip length in seconds.
    """
    write_csv_rows(files['ann'], (
        [i, 'DEMO', 'Black background', '7', '7', 'Yes', c.captions[0],
         c.attributes[0], ';'.join(c.captions[1:]), '', f'{duration:.2f}']
        for c, i in items), header=CHARADES_HEADER)


FORMATS: dict[str, Callable[[Path, list[Clip], dict, float], Written]] = {
    'msrvtt': write_msrvtt,
    'lsmdc': write_lsmdc,
    'msvd': write_msvd,
    'activitynet': write_activitynet,
    'didemo': write_didemo,
    'vatex': write_vatex,
    'charades': write_charades,
}
