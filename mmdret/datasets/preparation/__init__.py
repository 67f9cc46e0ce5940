"""Data preparation: check a dataset download and re-encode its videos.

Used by ``tools/data/check_videos.py`` (any dataset config) and the per-dataset
``tools/data/<dataset>/prepare_<dataset>.py`` scripts (a base config plus the paper's split
sizes); see :mod:`.video_check`, :mod:`.video_reencode` and :mod:`.cli`.
"""
from .cli import main, parse_args
from .video_check import (SPLITS, annotated_videos, build_split_dataset, check_dataset,
                          check_split, format_summary, load_config, probe_video)
from .video_reencode import (REENCODE_FPS, REENCODE_SHORT_SIDE, find_ffmpeg, is_done,
                             output_path, reencode_dataset, resized_shape, select_backend,
                             temp_path)

__all__ = [
    'main', 'parse_args', 'SPLITS', 'annotated_videos', 'build_split_dataset', 'check_dataset',
    'check_split', 'format_summary', 'load_config', 'probe_video', 'REENCODE_FPS',
    'REENCODE_SHORT_SIDE', 'find_ffmpeg', 'is_done', 'output_path', 'reencode_dataset',
    'resized_shape', 'select_backend', 'temp_path'
]
