import math

import numpy as np
from mmcv.transforms import BaseTransform

from mmdret.registry import TRANSFORMS


class VideoDecodeError(RuntimeError):
    """A video that cannot be opened or decoded; the dataset's policy decides what follows.

    Args:
        path (str): the video file.
        reason (str): what went wrong.
    """

    def __init__(self, path, reason):
        super().__init__(f'Cannot decode video {path!r}: {reason}')
        self.path = path


def segment_frame_window(segment, num_frames_in_video, fps):
    """Frames ``[first, stop)`` that the official loaders read for ``segment`` = (start, end) s.

    As the official DiffusionRet loaders (``dataloader_retrieval._get_rawvideo`` +
    ``rawvideo_util.video_to_tensor``) do it: the seconds are truncated to ``int``, negatives
    become 0, a reversed pair is swapped and an empty one (start == end) gets one more second;
    the end is clipped to the video's duration ``ceil(frames / fps)``; then every second ``sec``
    in ``[start, end]`` (inclusive) is read from frame ``sec * fps`` on, and reading stops at the
    video's last frame. So the window starts at frame ``start * fps`` and ends before frame
    ``(end + 1) * fps`` or the end of the video, whichever comes first.

    Args:
        segment (Sequence[float]): (start, end) in seconds.
        num_frames_in_video (int): frames in the video.
        fps (int): the video's integer frame rate.

    Returns:
        tuple[int, int]: ``first`` and ``stop`` frame indices (``first >= stop`` when the
        segment starts after the video ends).
    """
    start, end = (max(int(second), 0) for second in segment)
    if start > end:
        start, end = end, start
    elif start == end:
        end += 1
    duration = -(-num_frames_in_video // fps)  # ceil
    end = min(end, duration)
    return start * fps, min((end + 1) * fps, num_frames_in_video)


def fps_frame_indices(num_frames_in_video, video_fps, sample_fps, segment=None):
    """Frame indices at ``sample_fps`` frames per second (official: frame ``sec * fps``).

    Without ``segment`` the whole video is sampled from frame 0; with ``segment`` = (start, end)
    seconds the same rule is applied from the segment's first frame and only inside its window
    (:func:`segment_frame_window`).

    Args:
        num_frames_in_video (int): frames in the video.
        video_fps (float): the video's frame rate.
        sample_fps (float): frames per second to read.
        segment (Sequence[float], optional): (start, end) seconds to sample within. Defaults to None
            (the whole video).
    """
    fps = max(int(video_fps), 1)  # the official reader uses int(CAP_PROP_FPS)
    step = fps / sample_fps
    first, stop = 0, num_frames_in_video
    if segment is not None:
        first, stop = segment_frame_window(segment, num_frames_in_video, fps)
    count = math.ceil(max(stop - first, 0) / step)
    return [first + int(i * step) for i in range(count) if first + int(i * step) < stop]


def uniform_subsample(indices, max_frames):
    """Keep ``max_frames`` of ``indices`` uniformly (official ``slice_framepos=2``).

    Args:
        indices (Sequence[int]): frame indices.
        max_frames (int): how many to keep at most.
    """
    if len(indices) <= max_frames:
        return list(indices)
    keep = np.linspace(0, len(indices) - 1, max_frames, dtype=int)
    return [indices[i] for i in keep]


def read_frames(reader, indices):
    """Frames ``indices`` (ascending) of a decord ``reader`` as a ``(N, H, W, 3)`` array.

    Where the frames lie at most two apart (low-fps videos, short segments), the run from the
    first to the last is decoded in one pass and the wanted frames kept: decord seeks before
    every index that does not follow the previous one, and those seeks cost more than decoding
    the frames in between. The frames are the same either way; memory stays within twice the
    frames kept.

    Args:
        reader (decord.VideoReader): The opened video.
        indices (list[int]): Ascending frame indices.

    Returns:
        np.ndarray: ``(len(indices), H, W, 3)`` uint8 RGB frames.
    """
    first, last = indices[0], indices[-1]
    if last - first + 1 <= 2 * len(indices):
        run = reader.get_batch(list(range(first, last + 1))).asnumpy()
        return run[np.asarray(indices) - first]
    return reader.get_batch(indices).asnumpy()


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Decode frames with decord at ``sample_fps``, uniformly subsampled to ``max_frames``.

    Required keys: ``filename``. Optional key: ``segment``, (start, end) seconds: only frames
    of that window (clipped to the video's duration) are sampled, with the official rules
    (:func:`segment_frame_window`); the paragraph datasets set it (DiDeMo: the first 31 s).
    Without it the whole video is sampled. Added keys: ``imgs`` (list of RGB uint8 arrays),
    ``num_valid_frames``, ``frame_inds``, ``img_shape``, ``original_shape``, and ``clip_len``
    (frames read) and ``num_clips`` (1), so that the result is what mmaction2's ``DecordInit`` +
    ``UniformSample`` + ``DecordDecode`` give and its later transforms (``Resize``,
    ``CenterCrop``, ``FormatShape``, ...) apply unchanged.

    An unreadable video, or a ``segment`` that starts after the video ends (the official loader
    then yields an all-zero video), raises :class:`VideoDecodeError` (the dataset applies its
    policy). When
    the dataset has chosen to keep such a video masked (``video_decode_failed`` in the results),
    one black placeholder frame is emitted with ``num_valid_frames = 0``.

    Args:
        max_frames (int): frames kept per video. Defaults to 12 (official).
        sample_fps (float): frames per second read before subsampling. Defaults to 1 (official).
        num_threads (int): decord decoding threads. Defaults to 1.
        placeholder_size (int): side of the black placeholder frame. Defaults to 32.
    """

    def __init__(self, max_frames=12, sample_fps=1, num_threads=1, placeholder_size=32):
        self.max_frames = max_frames
        self.sample_fps = sample_fps
        self.num_threads = num_threads
        self.placeholder_size = placeholder_size

    def _decode(self, path, segment=None):
        import decord
        try:
            reader = decord.VideoReader(path, num_threads=self.num_threads)
            indices = fps_frame_indices(len(reader), reader.get_avg_fps(), self.sample_fps,
                                        segment)
            if not indices:
                raise ValueError('the video has no frames' if segment is None else
                                 f'no frame of the video ({len(reader)} frames at '
                                 f'{reader.get_avg_fps():g} fps) lies in segment {segment} s')
            indices = uniform_subsample(indices, self.max_frames)
            frames = read_frames(reader, indices)
        except Exception as error:  # decord raises its own error types, and RuntimeError
            raise VideoDecodeError(path, f'{type(error).__name__}: {error}') from error
        return list(frames), indices

    def transform(self, results):
        if results.get('video_decode_failed'):
            side = self.placeholder_size
            frames, indices = [np.zeros((side, side, 3), np.uint8)], []
            results['num_valid_frames'] = 0
        else:
            frames, indices = self._decode(results['filename'], results.get('segment'))
            results['num_valid_frames'] = len(frames)
        results['imgs'] = frames
        results['frame_inds'] = np.asarray(indices, dtype=np.int64)
        results['img_shape'] = results['original_shape'] = frames[0].shape[:2]
        results.update(clip_len=len(frames), num_clips=1)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(max_frames={self.max_frames}, '
                f'sample_fps={self.sample_fps})')
