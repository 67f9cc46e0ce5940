"""LoadVideoFrames on mp4s whose frames show their own index (8 black/white bit columns): the
exact frames sampled, with and without a ``segment`` (the official DiffusionRet window rules)."""
import json

import cv2
import numpy as np
import pytest

from mmdret.datasets import DiDeMoRetrievalDataset
from mmdret.datasets.transforms.load_video_frames import (LoadVideoFrames, VideoDecodeError,
                                                          fps_frame_indices, read_frames)
from mmdret.utils import register_all_modules

register_all_modules()

BITS, BIT_WIDTH, HEIGHT = 8, 8, 16


def write_indexed_video(path, num_frames, fps):
    """Frame i shows i in binary: column b (8 px wide) is white when bit b of i is set."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (BITS * BIT_WIDTH, HEIGHT))
    assert writer.isOpened()
    for index in range(num_frames):
        frame = np.zeros((HEIGHT, BITS * BIT_WIDTH, 3), np.uint8)
        for bit in range(BITS):
            if index >> bit & 1:
                frame[:, bit * BIT_WIDTH:(bit + 1) * BIT_WIDTH] = 255
        writer.write(frame)
    writer.release()
    return str(path)


def frame_index(frame):
    """The index a decoded frame shows (read from the centre of each bit column)."""
    columns = frame[4:-4].reshape(HEIGHT - 8, BITS, BIT_WIDTH, 3)[:, :, 2:-2]
    bits = columns.mean(axis=(0, 2, 3)) > 127
    return int(sum(1 << bit for bit in range(BITS) if bits[bit]))


def load(path, segment=None, max_frames=64, sample_fps=1):
    results = dict(filename=path)
    if segment is not None:
        results['segment'] = segment
    results = LoadVideoFrames(max_frames=max_frames, sample_fps=sample_fps)(results)
    shown = [frame_index(frame) for frame in results['imgs']]
    # The frames decoded are the frames reported.
    assert shown == results['frame_inds'].tolist()
    assert results['num_valid_frames'] == len(shown)
    return shown


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """10 s at 4 fps: frames 0..39."""
    return write_indexed_video(tmp_path_factory.mktemp('videos') / 'ten_s.mp4', 40, 4)


def test_no_segment_samples_the_whole_video(video):
    # Frame sec * fps for every second; unchanged behaviour.
    assert load(video) == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert load(video, max_frames=4) == [0, 12, 24, 36]  # linspace(0, 9, 4) -> 0, 3, 6, 9
    assert load(video, sample_fps=2) == list(range(0, 40, 2))


@pytest.mark.parametrize('segment, expected', [
    ((2, 5), [8, 12, 16, 20]),  # seconds 2..5 inclusive, frame sec * fps
    ((2.7, 5.9), [8, 12, 16, 20]),  # int() truncates both ends
    ((7, 3), [12, 16, 20, 24, 28]),  # a reversed pair is swapped
    ((4, 4), [16, 20]),  # an empty pair gets one more second
    ((-2, 1), [0, 4]),  # negatives become 0
    ((8, 31), [32, 36]),  # end clipped to the duration (10 s): frame 40 does not exist
    ((0, 31), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]),  # DiDeMo's window on a 10 s video
    ((0, 10), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]),  # ActivityNet's [0, ceil(duration)]
])
def test_segment_samples_only_its_window(video, segment, expected):
    assert load(video, segment) == expected


def test_segment_keeps_the_sampling_rule(video):
    # sample_fps 2: every fps / 2 = 2 frames from the segment's first frame, up to the end of
    # its last second (frames 8..23 for seconds 2..5).
    assert load(video, (2, 5), sample_fps=2) == [8, 10, 12, 14, 16, 18, 20, 22]
    # max_frames: uniform subsample of the window's frames, linspace(0, 3, 3) -> 0, 1, 3.
    assert load(video, (2, 5), max_frames=3) == [8, 12, 20]


def test_segment_after_the_end_is_a_decode_error(video):
    with pytest.raises(VideoDecodeError, match=r'segment \(12, 20\)'):
        load(video, (12, 20))
    # The official reader finds no frame at second 10 of a 10 s video either.
    with pytest.raises(VideoDecodeError):
        load(video, (10, 12))


def test_partial_last_second(tmp_path):
    # 38 frames at 4 fps: 9.5 s, duration ceil(38 / 4) = 10 s.
    path = write_indexed_video(tmp_path / 'short.mp4', 38, 4)
    assert load(path) == list(range(0, 38, 4))
    assert load(path, (8, 31)) == [32, 36]
    assert load(path, (9, 9)) == [36]


def test_fps_frame_indices_without_video():
    # Non-integer fps is truncated (int(CAP_PROP_FPS)) in both modes.
    assert fps_frame_indices(100, 29.97, 1) == [0, 29, 58, 87]
    assert fps_frame_indices(100, 29.97, 1, segment=(1, 2)) == [29, 58]
    assert fps_frame_indices(100, 29.97, 1, segment=(0, 31)) == fps_frame_indices(100, 29.97, 1)


def test_didemo_reads_only_its_first_31_seconds(tmp_path):
    """A 40 s DiDeMo video (1 fps): the official loader reads seconds 0..31, 32 frames."""
    (tmp_path / 'videos').mkdir()
    name = '10015567@N08_3655084291_d8b58466fa.mp4'
    write_indexed_video(tmp_path / 'videos' / name, 40, 1)
    (tmp_path / 'test_data.json').write_text(json.dumps([
        dict(description='a bit pattern counts up.', times=[[0, 1]] * 4, video=name)]))
    dataset = DiDeMoRetrievalDataset(
        ann_file='test_data.json', data_root=str(tmp_path), data_prefix=dict(video='videos'),
        pipeline=[dict(type='LoadVideoFrames', max_frames=64, sample_fps=1)], test_mode=True)
    results = dataset[0]
    assert results['segment'] == (0, 31)
    assert [frame_index(frame) for frame in results['imgs']] == list(range(32))


@pytest.mark.parametrize('indices', [[0, 2, 4, 6], [3, 4, 5], [1, 2, 4, 7], [0, 9, 20, 39], [5]])
def test_read_frames_equals_decoding_each_index(video, indices):
    import decord
    got = read_frames(decord.VideoReader(video, num_threads=1), indices)
    want = decord.VideoReader(video, num_threads=1).get_batch(indices).asnumpy()
    assert np.array_equal(got, want)
    assert [frame_index(frame) for frame in got] == indices
