"""ActivityNetRetrievalDataset on fixtures in the official ActivityNet Captions format
(train.json / val_1.json + the id lists), run end to end through LoadVideoFrames on tiny mp4s."""
import json
import re

import cv2
import numpy as np
import pytest

from mmdret.datasets import ActivityNetRetrievalDataset
from mmdret.utils import register_all_modules

register_all_modules()  # the pipeline's transforms resolve in the mmdret scope

ANNOTATIONS = {
    'v_QOlSCBRmfWY': dict(duration=82.73, timestamps=[[0.83, 19.86], [17.37, 60.81],
                                                      [56.26, 79.42]],
                          sentences=['A young woman is seen standing in a room.',
                                     ' She then begins dancing around.',
                                     ' She continues dancing and smiles.']),
    'v_ehGHCYKzyZ8': dict(duration=61.72, timestamps=[[0, 10.5], [11.0, 61.72]],
                          sentences=['A man plays a guitar.', ' He stops playing.']),
    'v_nwznKOuZM7w': dict(duration=7.2, timestamps=[[0, 7.2]],
                          sentences=['Two kids ride bikes.']),
}
PIPELINE = [dict(type='LoadVideoFrames', max_frames=4, sample_fps=1),
            dict(type='TokenizeCaptions', max_words=16),
            dict(type='PackRetrievalInputs', max_frames=4)]


def write_video(path, seconds=3, fps=4, size=32):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (size, size))
    assert writer.isOpened()
    for i in range(seconds * fps):
        writer.write(np.full((size, size, 3), 20 * i % 255, np.uint8))
    writer.release()


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for key in ANNOTATIONS:
        write_video(tmp_path / 'videos' / f'{key}.mp4')
    (tmp_path / 'val_1.json').write_text(json.dumps(ANNOTATIONS))
    (tmp_path / 'val_ids.json').write_text(json.dumps(['v_nwznKOuZM7w', 'v_QOlSCBRmfWY']))
    return tmp_path


def build(root, **kwargs):
    kwargs.setdefault('pipeline', [])
    return ActivityNetRetrievalDataset(ann_file='val_1.json', data_root=str(root),
                                       data_prefix=dict(video='videos'), **kwargs)


@pytest.mark.parametrize('test_mode', [False, True])
def test_one_paragraph_per_video_with_segments(root, test_mode):
    dataset = build(root, test_mode=test_mode)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (3, 3, 3)
    first = dataset.get_data_info(0)
    assert first['video_id'] == 'v_QOlSCBRmfWY'
    assert first['texts'] == ['A young woman is seen standing in a room.  She then begins '
                              'dancing around.  She continues dancing and smiles.']
    assert first['segment'] == (0, 83)  # [0, ceil(duration)]
    assert len(first['sentence_segments']) == 3
    assert first['filename'].endswith('videos/v_QOlSCBRmfWY.mp4')


def test_ids_file_selects_and_orders(root):
    dataset = build(root, ids_file='val_ids.json', test_mode=True)
    assert [dataset.get_data_info(i)['video_id'] for i in range(2)] == ['v_nwznKOuZM7w',
                                                                        'v_QOlSCBRmfWY']


def test_pipeline_end_to_end(root):
    (root / 'videos' / 'v_ehGHCYKzyZ8.mp4').write_bytes(b'')  # undecodable
    dataset = build(root, pipeline=PIPELINE, test_mode=True)
    packed = dataset[0]
    inputs, sample = packed['inputs'], packed['data_samples']
    assert tuple(inputs['video'].shape) == (4, 3, 32, 32)
    assert inputs['video_mask'].tolist() == [1, 1, 1, 0]  # 3 s at 1 fps
    assert tuple(inputs['text'].shape) == (1, 16)
    assert sample.video_id == 'v_QOlSCBRmfWY' and sample.text_idx == [0]
    masked = dataset[1]  # corrupt_video_policy 'mask' for tests: kept, all-zero mask
    assert masked['inputs']['video_mask'].sum() == 0 and masked['data_samples'].corrupt_video


def test_missing_video_policy(root):
    (root / 'videos' / 'v_ehGHCYKzyZ8.mp4').unlink()
    with pytest.raises(FileNotFoundError, match='v_ehGHCYKzyZ8'):
        build(root)
    assert build(root, missing_video_policy='skip').num_videos == 2


def test_malformed_inputs_name_file_and_key(root):
    path = root / 'val_1.json'
    bad = dict(ANNOTATIONS)
    bad['v_ehGHCYKzyZ8'] = dict(duration=61.72, timestamps=[[0, 10.5]],
                                sentences=['one', 'two'])
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=re.escape(f"{path}: ['v_ehGHCYKzyZ8']: expected "
                                                   '{"v_<id>": {"duration": seconds')):
        build(root)
    path.write_text(json.dumps(ANNOTATIONS))
    (root / 'val_ids.json').write_text(json.dumps(['v_nwznKOuZM7w', 'v_missing']))
    with pytest.raises(ValueError, match=re.escape(f"{path}: ['v_missing']: expected an entry "
                                                   f"for the video listed at "
                                                   f"{root / 'val_ids.json'}: [1]")):
        build(root, ids_file='val_ids.json')
