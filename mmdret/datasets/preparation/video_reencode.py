"""Re-encode the videos of a dataset: the CLIP4Clip/X-Pool compression (3 fps, short side 224).

The copies go into a mirror of the video folder. Re-encoding is resumable: each video is written
to a temporary name and renamed when complete and decodable, and outputs that already decode
with the requested fps and size are skipped.
"""
import os
import os.path as osp
import shutil
import subprocess

from .video_check import (TEMP_TAG, annotated_videos, build_split_dataset, other_extensions,
                          probe_video, run_tasks)

# The compression of CLIP4Clip's preprocess/compress_video.py, used by DiffusionRet and X-Pool.
REENCODE_FPS = 3
REENCODE_SHORT_SIDE = 224
OPENCV_FOURCC = 'mp4v'
FPS_TOLERANCE = 0.1


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
    """``'ffmpeg'`` or ``'opencv'``; ``'auto'`` prefers ffmpeg (H.264, smaller files).

    Args:
        backend (str): ``'auto'``, ``'ffmpeg'`` or ``'opencv'``. Defaults to 'auto'.
    """
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
    with the extension replaced by ``out_ext`` when given.

    Args:
        path (str): source video.
        video_dir (str): the source video folder.
        out_dir (str): the output folder.
        out_ext (str, optional): output extension. Defaults to None (the source's).
    """
    rel = osp.relpath(path, video_dir)
    if out_ext:
        rel = osp.splitext(rel)[0] + out_ext
    return osp.join(out_dir, rel)


def temp_path(path):
    """The temporary name an output is written under until it is complete.

    Args:
        path (str): the final output file.
    """
    stem, ext = osp.splitext(path)
    return stem + TEMP_TAG + ext


def is_done(path, fps, short_side):
    """Whether ``path`` is a finished output: it decodes and has the requested fps and size.

    Args:
        path (str): an output file.
        fps (float): the requested frame rate.
        short_side (int): the requested short side.
    """
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
    """Re-encode with ffmpeg (H.264), the aspect ratio kept with an even long side.

    Args:
        src (str): source video.
        dst (str): output file.
        fps (float): output frame rate.
        short_side (int): output short side in pixels.
    """
    scale = (f"scale='if(gt(iw,ih),-2,{short_side})':'if(gt(iw,ih),{short_side},-2)'")
    command = [find_ffmpeg(), '-y', '-loglevel', 'error', '-i', src, '-filter:v', scale,
               '-map', '0:v', '-r', str(fps), dst]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'ffmpeg failed: {result.stderr.strip()[-500:]}')


def resized_shape(height, width, short_side):
    """(height, width) with the short side ``short_side``, the other even and in proportion.

    Args:
        height (int): source height.
        width (int): source width.
        short_side (int): the output short side.
    """
    scale = short_side / min(height, width)

    def even(side):
        return max(2, int(round(side * scale / 2)) * 2)

    return (short_side, even(width)) if height <= width else (even(height), short_side)


def encode_opencv(src, dst, fps, short_side):
    """The OpenCV fallback: the source frame nearest to each output time (as ffmpeg's ``-r``
    does), resized to the short side, written as MPEG-4 Part 2 (``mp4v``).

    Args:
        src (str): source video.
        dst (str): output file.
        fps (float): output frame rate.
        short_side (int): output short side in pixels.
    """
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

    Args:
        cfg (Config): the config (see :func:`load_config`).
        splits (list[str]): keys of :data:`~.video_check.SPLITS`.
        out_dir (str): the output folder.
        fps (float): output frame rate. Defaults to 3.
        short_side (int): output short side. Defaults to 224.
        out_ext (str, optional): output extension. Defaults to None (the source's).
        backend (str): see :func:`select_backend`. Defaults to 'auto'.
        workers (int): processes. Defaults to 1.

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
