import csv
import json
import re
from pathlib import Path

import decord
import numpy as np
import pytest
from tool_loader import load_module

from mmdret.datasets import demo

SCRIPT = Path(__file__).parents[2] / 'tools' / 'data' / 'make_demo_dataset.py'
TINY = dict(train_per_combination=1, captions_per_video=2, test_groups=3,
            size=32, fps=2, num_frames=8)


mdd = load_module(SCRIPT)


def read_csv(path):
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def annotation_bytes(summary):
    return [Path(summary[k]).read_bytes()
            for k in ('train_csv', 'data_json', 'test_csv')]


def mentions(caption, phrases):
    return any(re.search(rf'\b{p}\b', caption) for p in phrases)


def matching_videos(caption, videos):
    """Videos whose four attributes are all named in the caption."""
    return [
        v for v in videos
        if mentions(caption, demo.SHAPES[v['shape']])
        and mentions(caption, [v['colour']])
        and mentions(caption, demo.SIZES[v['size']])
        and mentions(caption, demo.DIRECTIONS[v['direction']])
    ]


def centroid(frame):
    ys, xs = np.nonzero(frame.max(axis=2) > 60)
    return xs.mean(), ys.mean()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('demo')
    summary = mdd.make_demo_dataset(out_dir, seed=0, **TINY)
    with open(summary['data_json']) as f:
        data = json.load(f)
    return summary, data


def test_counts_and_formats(dataset):
    summary, data = dataset
    num_train = 144 * TINY['train_per_combination']
    num_test = 4 * TINY['test_groups']
    assert (summary['num_train'], summary['num_test']) == (num_train, num_test)

    header, train_rows = read_csv(summary['train_csv'])
    assert header == ['video_id']
    assert [r['video_id'] for r in train_rows] == [
        f'video{i}' for i in range(num_train)]

    assert set(data) == {'info', 'videos', 'sentences'}
    videos = data['videos']
    assert [v['video_id'] for v in videos] == [
        f'video{i}' for i in range(num_train + num_test)]
    assert [v['split'] for v in videos] == (
        ['train'] * num_train + ['test'] * num_test)
    per_video = {}
    for s in data['sentences']:
        assert set(s) == {'caption', 'video_id', 'sen_id'}
        per_video[s['video_id']] = per_video.get(s['video_id'], 0) + 1
    assert per_video == {
        v['video_id']: TINY['captions_per_video'] for v in videos}
    assert [s['sen_id'] for s in data['sentences']] == list(
        range(len(data['sentences'])))

    header, test_rows = read_csv(summary['test_csv'])
    assert header == ['key', 'vid_key', 'video_id', 'sentence']
    assert len(test_rows) == num_test
    assert test_rows[0]['key'] == 'ret0'
    assert test_rows[0]['vid_key'] == 'msr' + str(num_train)


def test_every_test_caption_identifies_its_video(dataset):
    summary, data = dataset
    test_videos = [v for v in data['videos'] if v['split'] == 'test']
    by_id = {v['video_id']: v for v in test_videos}
    _, test_rows = read_csv(summary['test_csv'])
    for row in test_rows:
        video = by_id[row['video_id']]
        assert video['colour'] in row['sentence']
        assert video['direction'] in row['sentence']
        assert matching_videos(row['sentence'], test_videos) == [video]
    # Every caption of every video names all four of its attributes.
    videos = {v['video_id']: v for v in data['videos']}
    for s in data['sentences']:
        video = videos[s['video_id']]
        assert matching_videos(s['caption'], [video]) == [video]


def test_videos_decode_and_move_in_their_direction(dataset):
    summary, data = dataset
    size, num_frames = TINY['size'], TINY['num_frames']
    for video in data['videos'][:3]:
        reader = decord.VideoReader(
            str(Path(summary['video_dir']) / f"{video['video_id']}.mp4"))
        assert len(reader) == num_frames
        assert reader[0].shape == (size, size, 3)

    expected = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1),
                'down': (0, 1)}
    for direction, (sign_x, sign_y) in expected.items():
        video = next(v for v in data['videos']
                     if v['direction'] == direction)
        reader = decord.VideoReader(
            str(Path(summary['video_dir']) / f"{video['video_id']}.mp4"))
        first, last = reader.get_batch([0, num_frames - 1]).asnumpy()
        (x0, y0), (x1, y1) = centroid(first), centroid(last)
        along, across = (x1 - x0, y1 - y0) if sign_x else (y1 - y0, x1 - x0)
        # Travels about half the frame along its direction, none across.
        assert along * (sign_x or sign_y) > size / 4
        assert abs(across) < 2


def test_deterministic_from_seed(dataset, tmp_path):
    summary, _ = dataset
    again = mdd.make_demo_dataset(tmp_path / 'same', seed=0, **TINY)
    assert annotation_bytes(again) == annotation_bytes(summary)
    name = 'video0.mp4'
    frames = [
        decord.VideoReader(str(Path(s['video_dir']) / name))[:].asnumpy()
        for s in (summary, again)
    ]
    np.testing.assert_array_equal(*frames)

    other = mdd.make_demo_dataset(tmp_path / 'other', seed=1, **TINY)
    assert annotation_bytes(other) != annotation_bytes(summary)


def test_script_is_a_thin_command_line_over_the_package():
    assert mdd.make_demo_dataset is demo.make_demo_dataset
    assert len(SCRIPT.read_text().splitlines()) < 80


def test_main_parses_flags(tmp_path, capsys):
    summary = mdd.main([
        '--out-dir', str(tmp_path), '--train-per-combination', '1',
        '--captions-per-video', '1', '--test-groups', '1', '--size', '16',
        '--num-frames', '2', '--fps', '4'
    ])
    assert (summary['num_train'], summary['num_test']) == (144, 4)
    assert summary['num_sentences'] == 148
    assert 'Wrote 144 train and 4 test videos' in capsys.readouterr().out
