"""Write a synthetic text-video retrieval dataset in a real one's file formats.

Each video shows ONE object on a black background: a shape (circle, square,
triangle) of one of six colours and one of two sizes that moves left, right,
up or down. Every caption names all four attributes, paraphrased from a few
templates with synonyms, so a caption identifies one attribute combination
(3 x 6 x 2 x 4 = 144 combinations). A tiny CLIP trained from scratch on CPU
learns it in a few minutes.

Design:

* Direction needs frame order. The start position is random and the whole
  path stays in frame, so opposite directions (left/right, up/down) give the
  same distribution of object positions over the clip: one frame, or frames
  pooled without their order, cannot tell left from right; only the frame
  order can.
* The test split is ``--test-groups`` (shape, colour, size) groups, each with
  ALL 4 directions. Every test caption then has three distractors that differ
  only in direction, so a direction-blind model reaches at most ~25 R@1
  (on random combinations it would reach ~35, proving nothing about motion).
  Each (shape, colour, size, direction) appears once in test, so every test
  caption matches exactly one test video.

Output (``--out-dir``), ``--format msrvtt`` (default)::

    videos/<video_id>.mp4        video0, video1, ... (train first)
    annotations/
        MSRVTT_train.9k.csv      header ``video_id``, one train video a row
        MSRVTT_data.json         ``info``, ``videos`` (the attributes as
                                 extra keys) and ``sentences``
        MSRVTT_JSFUSION_test.csv ``key,vid_key,video_id,sentence``, one row
                                 per test video

``--format`` names another dataset: the same videos and captions (the same
seed gives the same clips) are written under that dataset's official video
names and annotation files, the ones its dataset class and its base config
``configs/_base_/datasets/<dataset>.py`` read (``annotations/`` and
``videos/`` under the output folder):

* ``lsmdc``: ``LSMDC16_annos_training.csv`` (one tab-separated row per
  caption) and ``LSMDC16_challenge_1000_publictect.csv`` (one row per test
  clip, its first caption); clips are consecutive pieces of one movie per
  split, ``videos/<movie>/<movie>_<hh.mm.ss.mmm>-<hh.mm.ss.mmm>.avi``.
* ``msvd``: ``train_list.txt``, ``test_list.txt`` and ``raw-captions.pkl``
  (tokenised captions); ``videos/<id>_0_<seconds>.avi``.
* ``vatex``: ``vatex_training_v1.0.json`` / ``vatex_validation_v1.0.json``
  (``videoID``, ``enCap``, an empty ``chCap``) and the split lists
  ``hgr_train_ids.txt`` / ``hgr_test_ids.txt``;
  ``videos/<id>_000000_<seconds>.mp4``.
* ``activitynet``: ``train.json`` / ``val_1.json`` (``duration``, one
  ``timestamps`` pair per sentence, sentences after the first with a leading
  space as in the release) and ``train_ids.json`` / ``val_ids.json``;
  ``videos/v_<id>.mp4``.
* ``didemo``: ``train_data.json`` / ``test_data.json`` (one entry per
  sentence: ``description``, four annotators' ``times`` in 5-second chunks,
  ``video``) and ``train_list.txt`` / ``test_list.txt``;
  ``videos/shapes@N00_<id>.mp4``.
* ``charades``: ``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` (the
  official header; ``script`` is the first caption, ``descriptions`` the
  others joined by ``;``); ``videos/<id>.mp4``.

In the paragraph datasets (ActivityNet, DiDeMo) a video's captions are its
sentences, each given an equal consecutive share of the clip as its moment.

Example::

    python tools/data/make_demo_dataset.py --out-dir data/demo_msrvtt --seed 0
    python tools/data/make_demo_dataset.py --format didemo  # data/demo_didemo
"""
import argparse
import csv
import itertools
import json
import math
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

SHAPES = {
    'circle': ('circle', 'ball', 'disc'),
    'square': ('square', 'box', 'block'),
    'triangle': ('triangle', 'wedge'),
}
COLOURS_BGR = {
    'red': (0, 0, 255),
    'green': (0, 255, 0),
    'blue': (255, 0, 0),
    'yellow': (0, 255, 255),
    'white': (255, 255, 255),
    'purple': (255, 0, 160),
}
SIZES = {
    'small': ('small', 'little', 'tiny'),
    'large': ('large', 'big'),
}
DIRECTIONS = {
    'left': ('to the left', 'leftwards'),
    'right': ('to the right', 'rightwards'),
    'up': ('up', 'upwards'),
    'down': ('down', 'downwards'),
}
VERBS = ('moves', 'goes', 'slides', 'travels')
TEMPLATES = (
    'a {size} {colour} {shape} {verb} {direction}',
    '{size} {colour} {shape} {verb} {direction} on a black background',
    'there is a {size} {colour} {shape} that {verb} {direction}',
    'a video of a {size} {colour} {shape} that {verb} {direction}',
    'the {shape} is {colour} and {size} and it {verb} {direction}',
    'watch the {size} {colour} {shape} as it {verb} {direction}',
)

# Unit motion vectors in image coordinates (y grows downwards).
MOTION = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}
# Half-extent of the object, as a fraction of the frame size.
RADIUS_FRACTION = {'small': 0.09, 'large': 0.17}
# Distance travelled over the whole clip, as a fraction of the frame size.
TRAVEL_FRACTION = 0.5
# cv2 drawing with fractional bits, so that slow motion stays smooth.
SHIFT = 4

Attributes = tuple[str, str, str, str]  # (shape, colour, size, direction)


@dataclass(frozen=True)
class Clip:
    """One planned video: its attributes, start position and captions."""

    video_id: str
    split: str
    attributes: Attributes
    start: tuple[float, float]
    captions: tuple[str, ...]


def sample_caption(rng: np.random.Generator, attributes: Attributes) -> str:
    shape, colour, size, direction = attributes
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(
        shape=rng.choice(SHAPES[shape]),
        colour=colour,
        size=rng.choice(SIZES[size]),
        verb=rng.choice(VERBS),
        direction=rng.choice(DIRECTIONS[direction]))


def sample_start(rng: np.random.Generator, attributes: Attributes,
                 frame_size: int) -> tuple[float, float]:
    """Random start centre such that the whole path stays in frame."""
    radius = RADIUS_FRACTION[attributes[2]] * frame_size
    travel = TRAVEL_FRACTION * frame_size
    start = []
    for step in MOTION[attributes[3]]:
        if step == 0:
            start.append(rng.uniform(radius, frame_size - radius))
        else:
            low_end = rng.uniform(radius, frame_size - radius - travel)
            start.append(low_end if step > 0 else low_end + travel)
    return float(start[0]), float(start[1])


def plan_clips(rng: np.random.Generator, train_per_combination: int,
               captions_per_video: int, test_groups: int,
               frame_size: int) -> list[Clip]:
    """Attributes, start positions and captions of all videos, train first."""
    groups = list(itertools.product(SHAPES, COLOURS_BGR, SIZES))
    # Train videos come in blocks of one (shape, colour, size) group's four directions, blocks
    # in random order: a block-shuffling sampler then yields batches whose items differ from
    # each other only by direction (hard negatives), which is what makes motion learnable fast.
    blocks = groups * train_per_combination
    directions = list(DIRECTIONS)
    train = [blocks[b] + (directions[d], ) for b in rng.permutation(len(blocks))
             for d in rng.permutation(len(directions))]
    if not 0 < test_groups <= len(groups):
        raise ValueError(f'test_groups must be in [1, {len(groups)}]')
    chosen = rng.choice(len(groups), size=test_groups, replace=False)
    test = [groups[g] + (d, ) for g in chosen for d in DIRECTIONS]
    # Each test caption must identify exactly one test video.
    assert len(set(test)) == len(test)

    clips = []
    for split, combos in (('train', train), ('test', test)):
        for attributes in combos:
            clips.append(
                Clip(
                    video_id=f'video{len(clips)}',
                    split=split,
                    attributes=attributes,
                    start=sample_start(rng, attributes, frame_size),
                    captions=tuple(
                        sample_caption(rng, attributes)
                        for _ in range(captions_per_video))))
    return clips


def draw_object(frame: np.ndarray, attributes: Attributes,
                centre: tuple[float, float]) -> None:
    shape, colour, size, _ = attributes
    scale = 1 << SHIFT
    radius = RADIUS_FRACTION[size] * frame.shape[0]
    x, y = centre
    bgr = COLOURS_BGR[colour]
    if shape == 'circle':
        cv2.circle(frame, (round(x * scale), round(y * scale)),
                   round(radius * scale), bgr, -1, cv2.LINE_8, SHIFT)
    elif shape == 'square':
        half = 0.85 * radius  # about the area of the circle
        corners = np.array([[x - half, y - half], [x + half, y + half]])
        (x0, y0), (x1, y1) = np.round(corners * scale).astype(int)
        cv2.rectangle(frame, (x0, y0), (x1, y1), bgr, -1, cv2.LINE_8, SHIFT)
    else:
        vertices = np.array([[x, y - radius], [x - radius, y + radius],
                             [x + radius, y + radius]])
        cv2.fillPoly(frame, [np.round(vertices * scale).astype(np.int32)],
                     bgr, cv2.LINE_8, SHIFT)


def render_frames(clip: Clip, frame_size: int, num_frames: int):
    """Yield the BGR frames of a clip: constant speed along its direction."""
    travel = TRAVEL_FRACTION * frame_size
    dx, dy = MOTION[clip.attributes[3]]
    for t in np.linspace(0.0, travel, num_frames):
        frame = np.zeros((frame_size, frame_size, 3), np.uint8)
        draw_object(frame, clip.attributes,
                    (clip.start[0] + dx * t, clip.start[1] + dy * t))
        yield frame


def write_video(path: Path, frames, frame_size: int, fps: float) -> None:
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
        (frame_size, frame_size))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter cannot write {path}')
    for frame in frames:
        writer.write(frame)
    writer.release()


def write_lines(path: Path, lines) -> None:
    path.write_text(''.join(f'{line}\n' for line in lines))


def write_json(path: Path, data) -> None:
    with open(path, 'w') as f:
        json.dump(data, f)


def write_csv_rows(path: Path, rows, header=None, delimiter=',') -> None:
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


def write_msrvtt(ann_dir: Path, clips: list[Clip], info: dict,
                 duration: float) -> Written:
    """The three MSRVTT files; videos ``<video_id>.mp4``."""
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
    """Each caption's moment: an equal consecutive share of the clip."""
    share = duration / len(clip.captions)
    return [(round(k * share, 2), round((k + 1) * share, 2))
            for k in range(len(clip.captions))]


def lsmdc_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return (f'{millis // 3600000:02d}.{millis // 60000 % 60:02d}.'
            f'{millis // 1000 % 60:02d}.{millis % 1000:03d}')


def write_lsmdc(ann_dir: Path, clips: list[Clip], info: dict,
                duration: float) -> Written:
    """LSMDC16 tab-separated files; clips cut from one movie per split."""
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
    """CLIP4Clip MSVD: split lists and raw-captions.pkl (token lists)."""
    ids = [f'{c.video_id}_0_{math.ceil(duration)}' for c in clips]
    paths = split_files(
        ann_dir, {'list': ('train_list.txt', 'test_list.txt')}, clips, ids,
        lambda files, items: write_lines(files['list'], (i for _, i in items)))
    paths['captions'] = ann_dir / 'raw-captions.pkl'
    with open(paths['captions'], 'wb') as f:
        pickle.dump({i: [caption.split() for caption in c.captions]
                     for c, i in zip(clips, ids)}, f)
    return paths, [f'{i}.avi' for i in ids]


def write_vatex(ann_dir: Path, clips: list[Clip], info: dict,
                duration: float) -> Written:
    """VATEX v1.0 json (English captions) and HGR-style split lists."""
    ids = [f'{c.video_id}_000000_{math.ceil(duration):06d}' for c in clips]

    def write_split(files, items):
        write_json(files['ann'], [
            {'videoID': i, 'enCap': list(c.captions), 'chCap': []}
            for c, i in items])
        write_lines(files['ids'], (i for _, i in items))

    paths = split_files(
        ann_dir, {'ann': ('vatex_training_v1.0.json',
                          'vatex_validation_v1.0.json'),
                  'ids': ('hgr_train_ids.txt', 'hgr_test_ids.txt')},
        clips, ids, write_split)
    return paths, [f'{i}.mp4' for i in ids]


def write_activitynet(ann_dir: Path, clips: list[Clip], info: dict,
                      duration: float) -> Written:
    """ActivityNet Captions train.json / val_1.json and the id lists."""
    ids = [f'v_{c.video_id}' for c in clips]

    def write_split(files, items):
        # The release's sentences after the first start with a space.
        write_json(files['ann'], {
            i: {'duration': float(duration),
                'timestamps': [list(t) for t in sentence_spans(c, duration)],
                'sentences': [c.captions[0]] + [' ' + s for s in c.captions[1:]]}
            for c, i in items})
        write_json(files['ids'], [i for _, i in items])

    paths = split_files(
        ann_dir, {'ann': ('train.json', 'val_1.json'),
                  'ids': ('train_ids.json', 'val_ids.json')},
        clips, ids, write_split)
    return paths, [f'{i}.mp4' for i in ids]


def write_didemo(ann_dir: Path, clips: list[Clip], info: dict,
                 duration: float) -> Written:
    """DiDeMo {split}_data.json (5-second chunks) and {split}_list.txt."""
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


def write_charades(ann_dir: Path, clips: list[Clip], info: dict,
                   duration: float) -> Written:
    """Charades_v1_{train,test}.csv: the script is the first caption."""
    ids = [f'S{c.video_id.removeprefix("video").zfill(4)}' for c in clips]

    def write_split(files, items):
        write_csv_rows(files['ann'], (
            [i, 'DEMO', 'Black background', '7', '7', 'Yes', c.captions[0],
             c.attributes[0], ';'.join(c.captions[1:]), '', f'{duration:.2f}']
            for c, i in items), header=CHARADES_HEADER)

    paths = split_files(
        ann_dir, {'ann': ('Charades_v1_train.csv', 'Charades_v1_test.csv')},
        clips, ids, write_split)
    return paths, [f'{i}.mp4' for i in ids]


FORMATS: dict[str, Callable[[Path, list[Clip], dict, float], Written]] = {
    'msrvtt': write_msrvtt,
    'lsmdc': write_lsmdc,
    'msvd': write_msvd,
    'activitynet': write_activitynet,
    'didemo': write_didemo,
    'vatex': write_vatex,
    'charades': write_charades,
}


def make_demo_dataset(out_dir, seed=0, train_per_combination=12,
                      captions_per_video=5, test_groups=25, size=64, fps=2,
                      num_frames=24, dataset_format='msrvtt') -> dict:
    """Write the synthetic moving-shape dataset in a dataset's file formats.

    Args:
        out_dir (str | Path): Output folder; ``videos/`` and ``annotations/``
            are created in it.
        seed (int): Seed of ``numpy.random.default_rng``; the same seed gives
            byte-identical annotation files and identical decoded frames.
        train_per_combination (int): Train videos per attribute combination
            (144 combinations).
        captions_per_video (int): Captions per video in MSRVTT_data.json
            (the sentences of a paragraph in ActivityNet / DiDeMo). Must be
            at least 1 (the first caption of a test video is its JSFusion
            caption, its LSMDC public-test sentence and its Charades script).
        test_groups (int): Number of (shape, colour, size) groups in test,
            each with all 4 directions (1 to 36).
        size (int): Frame width and height in pixels (even, at least 16).
        fps (float): Frame rate written into the mp4 files.
        num_frames (int): Frames per video (at least 2).
        dataset_format (str): A key of :data:`FORMATS`, the dataset whose
            files are written. Defaults to ``'msrvtt'``.

    Returns:
        dict: ``out_dir``, ``video_dir``, the annotation paths (msrvtt:
        ``train_csv``, ``data_json``, ``test_csv``; others: named by their
        writer, e.g. ``train_ann``, ``test_ann``), ``video_files`` (each
        video's path relative to ``video_dir``, train first), the counts
        (``num_train``, ``num_test``, ``num_sentences``) and ``seconds``.
    """
    if size < 16 or size % 2:
        raise ValueError('size must be even and at least 16')
    if num_frames < 2:
        raise ValueError('num_frames must be at least 2')
    if captions_per_video < 1:
        raise ValueError('captions_per_video must be at least 1')
    if dataset_format not in FORMATS:
        raise ValueError(f'dataset_format must be one of {list(FORMATS)}, '
                         f'got {dataset_format!r}')
    began = time.perf_counter()
    out_dir = Path(out_dir)
    video_dir = out_dir / 'videos'
    ann_dir = out_dir / 'annotations'
    video_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    clips = plan_clips(rng, train_per_combination, captions_per_video,
                       test_groups, size)
    info = {
        'description': 'Synthetic moving shapes in the MSR-VTT formats '
        '(tools/data/make_demo_dataset.py)',
        'seed': seed,
        'frame_size': size,
        'fps': float(fps),
        'num_frames': num_frames,
    }
    paths, video_files = FORMATS[dataset_format](ann_dir, clips, info,
                                                 num_frames / fps)
    for clip, name in tqdm(list(zip(clips, video_files)), desc='videos',
                           unit='video'):
        path = video_dir / name
        path.parent.mkdir(exist_ok=True)
        write_video(path, render_frames(clip, size, num_frames), size, fps)
    num_train = sum(c.split == 'train' for c in clips)
    return {
        'out_dir': out_dir,
        'video_dir': video_dir,
        **paths,
        'video_files': video_files,
        'num_train': num_train,
        'num_test': len(clips) - num_train,
        'num_sentences': len(clips) * captions_per_video,
        'seconds': time.perf_counter() - began,
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a synthetic moving-shape text-video retrieval '
        'dataset in the file formats of a real dataset.')
    parser.add_argument('--out-dir', default=None,
                        help='defaults to data/demo_<format>')
    parser.add_argument(
        '--format', choices=list(FORMATS), default='msrvtt',
        help='the dataset whose video names and annotation files are written')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--train-per-combination', type=int, default=12,
        help='train videos per (shape, colour, size, direction)')
    parser.add_argument('--captions-per-video', type=int, default=5)
    parser.add_argument(
        '--test-groups', type=int, default=25,
        help='(shape, colour, size) groups in test, each with 4 directions')
    parser.add_argument('--size', type=int, default=64,
                        help='frame width and height in pixels')
    parser.add_argument('--fps', type=float, default=2)
    parser.add_argument('--num-frames', type=int, default=24)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    summary = make_demo_dataset(
        args.out_dir or f'data/demo_{args.format}',
        seed=args.seed,
        train_per_combination=args.train_per_combination,
        captions_per_video=args.captions_per_video,
        test_groups=args.test_groups,
        size=args.size,
        fps=args.fps,
        num_frames=args.num_frames,
        dataset_format=args.format)
    print(f"Wrote {summary['num_train']} train and {summary['num_test']} test "
          f"videos with {summary['num_sentences']} captions to "
          f"{summary['out_dir']} in {summary['seconds']:.1f} s")
    return summary


if __name__ == '__main__':
    main()
