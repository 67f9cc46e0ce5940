"""Write a synthetic text-video retrieval dataset in the MSRVTT file formats.

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

Output (``--out-dir``)::

    videos/<video_id>.mp4        video0, video1, ... (train first)
    annotations/
        MSRVTT_train.9k.csv      header ``video_id``, one train video a row
        MSRVTT_data.json         ``info``, ``videos`` (the attributes as
                                 extra keys) and ``sentences``
        MSRVTT_JSFUSION_test.csv ``key,vid_key,video_id,sentence``, one row
                                 per test video

Example::

    python tools/data/make_demo_dataset.py --out-dir data/demo_msrvtt --seed 0
"""
import argparse
import csv
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

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


def write_annotations(ann_dir: Path, clips: list[Clip], info: dict,
                      duration: float) -> dict[str, Path]:
    """Write the three MSRVTT annotation files; return their paths."""
    paths = {
        'train_csv': ann_dir / 'MSRVTT_train.9k.csv',
        'data_json': ann_dir / 'MSRVTT_data.json',
        'test_csv': ann_dir / 'MSRVTT_JSFUSION_test.csv',
    }
    train = [c for c in clips if c.split == 'train']
    test = [c for c in clips if c.split == 'test']

    with open(paths['train_csv'], 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(['video_id'])
        writer.writerows([c.video_id] for c in train)

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
    with open(paths['data_json'], 'w') as f:
        json.dump({'info': info, 'videos': videos, 'sentences': sentences}, f)

    with open(paths['test_csv'], 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(['key', 'vid_key', 'video_id', 'sentence'])
        for i, clip in enumerate(test):
            number = clip.video_id.removeprefix('video')
            writer.writerow(
                [f'ret{i}', f'msr{number}', clip.video_id, clip.captions[0]])
    return paths


def make_demo_dataset(out_dir, seed=0, train_per_combination=12,
                      captions_per_video=5, test_groups=25, size=64, fps=2,
                      num_frames=24) -> dict:
    """Write the synthetic moving-shape dataset in the MSRVTT formats.

    Args:
        out_dir (str | Path): Output folder; ``videos/`` and ``annotations/``
            are created in it.
        seed (int): Seed of ``numpy.random.default_rng``; the same seed gives
            byte-identical annotation files and identical decoded frames.
        train_per_combination (int): Train videos per attribute combination
            (144 combinations).
        captions_per_video (int): Captions per video in MSRVTT_data.json.
            Must be at least 1 (the first caption of a test video is its
            JSFusion caption).
        test_groups (int): Number of (shape, colour, size) groups in test,
            each with all 4 directions (1 to 36).
        size (int): Frame width and height in pixels (even, at least 16).
        fps (float): Frame rate written into the mp4 files.
        num_frames (int): Frames per video (at least 2).

    Returns:
        dict: ``out_dir``, ``video_dir``, the annotation paths
        (``train_csv``, ``data_json``, ``test_csv``), the counts
        (``num_train``, ``num_test``, ``num_sentences``) and ``seconds``.
    """
    if size < 16 or size % 2:
        raise ValueError('size must be even and at least 16')
    if num_frames < 2:
        raise ValueError('num_frames must be at least 2')
    if captions_per_video < 1:
        raise ValueError('captions_per_video must be at least 1')
    began = time.perf_counter()
    out_dir = Path(out_dir)
    video_dir = out_dir / 'videos'
    ann_dir = out_dir / 'annotations'
    video_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    clips = plan_clips(rng, train_per_combination, captions_per_video,
                       test_groups, size)
    for clip in tqdm(clips, desc='videos', unit='video'):
        write_video(video_dir / f'{clip.video_id}.mp4',
                    render_frames(clip, size, num_frames), size, fps)

    info = {
        'description': 'Synthetic moving shapes in the MSR-VTT formats '
        '(tools/data/make_demo_dataset.py)',
        'seed': seed,
        'frame_size': size,
        'fps': float(fps),
        'num_frames': num_frames,
    }
    paths = write_annotations(ann_dir, clips, info, num_frames / fps)
    num_train = sum(c.split == 'train' for c in clips)
    return {
        'out_dir': out_dir,
        'video_dir': video_dir,
        **paths,
        'num_train': num_train,
        'num_test': len(clips) - num_train,
        'num_sentences': len(clips) * captions_per_video,
        'seconds': time.perf_counter() - began,
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a synthetic moving-shape text-video retrieval '
        'dataset in the MSRVTT file formats.')
    parser.add_argument('--out-dir', default='data/demo_msrvtt')
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
        args.out_dir,
        seed=args.seed,
        train_per_combination=args.train_per_combination,
        captions_per_video=args.captions_per_video,
        test_groups=args.test_groups,
        size=args.size,
        fps=args.fps,
        num_frames=args.num_frames)
    print(f"Wrote {summary['num_train']} train and {summary['num_test']} test "
          f"videos with {summary['num_sentences']} captions to "
          f"{summary['out_dir']} in {summary['seconds']:.1f} s")
    return summary


if __name__ == '__main__':
    main()
