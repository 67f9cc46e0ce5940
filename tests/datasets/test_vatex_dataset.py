"""VATEXRetrievalDataset on fixtures in the official vatex_{training,validation}_v1.0.json
format."""
import json
import re

import pytest

from mmdret.datasets import VATEXRetrievalDataset

IDS = ['Ptf_2VRj-V0_000122_000132', 'G9zN5TTuGO4_000179_000189', '--07WQ2iBlw_000001_000011']


def entry(video_id):
    return dict(videoID=video_id,
                enCap=[f'{video_id[:4]} caption {i}' for i in range(10)],
                chCap=[f'中文 {i}' for i in range(10)])


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for video_id in IDS:
        (tmp_path / 'videos' / f'{video_id}.mp4').touch()
    (tmp_path / 'vatex_validation_v1.0.json').write_text(
        json.dumps([entry(v) for v in IDS], ensure_ascii=False))
    # an HGR-style split list: a subset, in its own order
    (tmp_path / 'test_ids.txt').write_text(f'{IDS[2]}\n{IDS[0]}\n')
    return tmp_path


def build(root, **kwargs):
    return VATEXRetrievalDataset(ann_file='vatex_validation_v1.0.json', data_root=str(root),
                                 data_prefix=dict(video='videos'), pipeline=[], **kwargs)


def test_train_all_english_captions(root):
    dataset = build(root)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (3, 30, 30)
    assert dataset.get_data_info(10)['texts'] == ['G9zN caption 0']


def test_test_mode_with_split_file(root):
    dataset = build(root, split_file='test_ids.txt', test_mode=True)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 20, 2)
    first = dataset.get_data_info(0)
    assert first['video_id'] == IDS[2] and len(first['texts']) == 10
    assert first['text_idx'] == list(range(10))
    assert first['filename'].endswith(f'videos/{IDS[2]}.mp4')


def test_missing_video_policy(root):
    (root / 'videos' / f'{IDS[1]}.mp4').unlink()
    with pytest.raises(FileNotFoundError, match=IDS[1]):
        build(root)
    assert build(root, missing_video_policy='skip').num_texts == 20


def test_malformed_inputs_name_file_and_place(root):
    path = root / 'vatex_validation_v1.0.json'
    bad = [entry(IDS[0]), dict(videoID=IDS[1], chCap=['x'])]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=re.escape(f'{path}: [1]: expected {{"videoID": str, '
                                                   '"enCap": [non-empty str, ...]}')):
        build(root)
    path.write_text(json.dumps([entry(IDS[0]), entry(IDS[0])]))
    with pytest.raises(ValueError, match=re.escape(f'{path}: [1]: expected each videoID once')):
        build(root)
    path.write_text('[{"videoID": "x",\n "enCap": [}]')
    with pytest.raises(ValueError, match=re.escape(f'{path}:2: expected valid JSON')):
        build(root)
    path.write_text(json.dumps([entry(v) for v in IDS]))
    (root / 'test_ids.txt').write_text(f'{IDS[0]}\nunknown_000000_000010\n')
    with pytest.raises(ValueError, match=re.escape(f"{root / 'test_ids.txt'}:2: expected a "
                                                   'videoID present in')):
        build(root, split_file='test_ids.txt')
