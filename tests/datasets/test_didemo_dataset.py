"""DiDeMoRetrievalDataset on fixtures in the official {split}_data.json / {split}_list.txt
format."""
import json
import re

import pytest

from mmdret.datasets import DiDeMoRetrievalDataset

V1 = '10015567@N08_3655084291_d8b58466fa.mov'
V2 = '54555452@N00_2461379478_cb8f5e1a47.avi'
V3 = '91428574@N00_4359937937_1a8c9ef2b0.mp4'  # listed, but without descriptions
DATA = [
    dict(description='a girl in a red shirt walks in.', times=[[0, 0], [0, 1], [0, 0], [0, 0]],
         video=V1, annotation_id=1, num_segments=6),
    dict(description='the camera pans left.', times=[[2, 3], [2, 3], [3, 3], [2, 2]], video=V2,
         annotation_id=2, num_segments=6),
    dict(description='she sits down.', times=[[4, 5], [4, 4], [4, 5], [5, 5]], video=V1,
         annotation_id=3, num_segments=6),
    dict(description='a dog barks.', times=[[1, 1], [1, 1], [1, 2], [1, 1]], video=V1,
         annotation_id=4, num_segments=6),
]


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for video in (V1, V2, V3):
        (tmp_path / 'videos' / video).touch()
    (tmp_path / 'test_data.json').write_text(json.dumps(DATA))
    (tmp_path / 'test_list.txt').write_text(f'{V2}\n{V1}\n{V3}\n')
    return tmp_path


def build(root, **kwargs):
    return DiDeMoRetrievalDataset(ann_file='test_data.json', data_root=str(root),
                                  data_prefix=dict(video='videos'), pipeline=[], **kwargs)


@pytest.mark.parametrize('test_mode', [False, True])
def test_one_paragraph_per_video_with_segments(root, test_mode):
    dataset = build(root, test_mode=test_mode)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 2, 2)
    first = dataset.get_data_info(0)
    assert first['video_id'] == V1
    assert first['texts'] == ['a girl in a red shirt walks in. she sits down. a dog barks.']
    assert first['segment'] == (0, 31)
    # per description: (mean start chunk * 5, (mean end chunk + 1) * 5)
    assert first['sentence_segments'] == [(0.0, 6.25), (21.25, 28.75), (5.0, 11.25)]
    assert first['filename'].endswith(f'videos/{V1}')


def test_list_file_orders_and_skips_undescribed(root):
    dataset = build(root, list_file='test_list.txt')
    assert [dataset.get_data_info(i)['video_id'] for i in range(len(dataset))] == [V2, V1]
    assert dataset.get_data_info(0)['texts'] == ['the camera pans left.']


def test_transcoded_extension_and_missing_policy(root):
    with pytest.raises(FileNotFoundError, match='2 of 2 videos are missing'):
        build(root, video_ext='.mp4')
    (root / 'videos' / V1.replace('.mov', '.mp4')).touch()
    dataset = build(root, video_ext='.mp4', missing_video_policy='skip')
    assert dataset.num_videos == 1
    assert dataset.get_data_info(0)['filename'].endswith('d8b58466fa.mp4')


def test_malformed_entries_name_file_and_index(root):
    path = root / 'test_data.json'
    path.write_text(json.dumps(DATA[:2] + [dict(description='x', video=V1)]))
    with pytest.raises(ValueError, match=re.escape(f'{path}: [2]: expected {{"description": str, '
                                                   '"times": [[start_chunk, end_chunk], ...]')):
        build(root)
    path.write_text(json.dumps(dict(data=DATA)))
    with pytest.raises(ValueError, match=re.escape(f'{path}: top level: expected a JSON list')):
        build(root)
    path.write_text(json.dumps(DATA))
    (root / 'test_list.txt').write_text(f'{V1}\n{V1}\n')
    with pytest.raises(ValueError, match=re.escape(f"{root / 'test_list.txt'}:2: expected one "
                                                   'DiDeMo video file name per line (each id '
                                                   'once')):
        build(root, list_file='test_list.txt')
