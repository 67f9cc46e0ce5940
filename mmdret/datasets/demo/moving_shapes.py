"""The moving-shape clips of the demo dataset: vocabulary, captions, start positions, frames."""
import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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
    """A random paraphrase naming all four attributes.

    Args:
        rng (numpy.random.Generator): the random generator.
        attributes (tuple[str, str, str, str]): (shape, colour, size, direction).
    """
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
    """Random start centre such that the whole path stays in frame.

    Args:
        rng (numpy.random.Generator): the random generator.
        attributes (tuple[str, str, str, str]): (shape, colour, size, direction).
        frame_size (int): frame side in pixels.
    """
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
    """Attributes, start positions and captions of all videos, train first.

    Args:
        rng (numpy.random.Generator): the random generator.
        train_per_combination (int): train videos per attribute combination.
        captions_per_video (int): captions per video.
        test_groups (int): (shape, colour, size) groups in test, each with all 4 directions.
        frame_size (int): frame side in pixels.
    """
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
    """Draw the object of ``attributes`` centred at ``centre`` into ``frame`` (in place).

    Args:
        frame (numpy.ndarray): ``(H, W, 3)`` BGR frame.
        attributes (tuple[str, str, str, str]): (shape, colour, size, direction).
        centre (tuple[float, float]): (x, y) in pixels.
    """
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
    """Yield the BGR frames of a clip: constant speed along its direction.

    Args:
        clip (Clip): the planned clip.
        frame_size (int): frame side in pixels.
        num_frames (int): frames of the clip.
    """
    travel = TRAVEL_FRACTION * frame_size
    dx, dy = MOTION[clip.attributes[3]]
    for t in np.linspace(0.0, travel, num_frames):
        frame = np.zeros((frame_size, frame_size, 3), np.uint8)
        draw_object(frame, clip.attributes,
                    (clip.start[0] + dx * t, clip.start[1] + dy * t))
        yield frame


def write_video(path: Path, frames, frame_size: int, fps: float) -> None:
    """Write BGR frames as an mp4 (MPEG-4 Part 2).

    Args:
        path (Path): output file.
        frames (Iterable[numpy.ndarray]): the frames.
        frame_size (int): frame side in pixels.
        fps (float): frame rate.
    """
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
        (frame_size, frame_size))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter cannot write {path}')
    for frame in frames:
        writer.write(frame)
    writer.release()
