"""Writes the whole demo dataset: plans the clips, writes the annotations and the videos."""
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .annotation_formats import FORMATS
from .moving_shapes import plan_clips, render_frames, write_video


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
