"""MSVDRetrievalDataset on fixtures in the CLIP4Clip format (list files + raw-captions.pkl)."""
import pickle
import re

import pytest

from mmdret.datasets import MSVDRetrievalDataset

CAPTIONS = {
    '-4wsuPCjDBc_5_15': [['a', 'man', 'cooks'], ['someone', 'is', 'cooking']],
    '-7KMZQEsJW4_205_208': [['a', 'cat', 'jumps']],
    '-8y1Q0rA3n8_108_115': [['a', 'dog', 'runs'], ['the', 'dog', 'is', 'running'],
                            ['a', 'puppy', 'plays']],
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for video_id in CAPTIONS:
        (tmp_path / 'videos' / f'{video_id}.avi').touch()
    (tmp_path / 'train_list.txt').write_text('-4wsuPCjDBc_5_15\n-7KMZQEsJW4_205_208\n')
    (tmp_path / 'test_list.txt').write_text('-8y1Q0rA3n8_108_115\n-4wsuPCjDBc_5_15\n\n')
    with open(tmp_path / 'raw-captions.pkl', 'wb') as file:
        pickle.dump(CAPTIONS, file)
    return tmp_path


def build(root, ann_file='train_list.txt', **kwargs):
    return MSVDRetrievalDataset(ann_file=ann_file, data_root=str(root),
                                data_prefix=dict(video='videos'), pipeline=[], **kwargs)


def test_train_one_pair_per_caption(root):
    dataset = build(root)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 3, 3)
    first = dataset.get_data_info(0)
    assert first['texts'] == ['a man cooks'] and first['text_idx'] == [0]
    assert first['filename'].endswith('videos/-4wsuPCjDBc_5_15.avi')


def test_test_mode_keeps_all_captions_per_video(root):
    dataset = build(root, 'test_list.txt', test_mode=True)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 5, 2)
    items = [dataset.get_data_info(i) for i in range(2)]
    assert items[0]['texts'] == ['a dog runs', 'the dog is running', 'a puppy plays']
    assert items[0]['text_idx'] == [0, 1, 2] and items[1]['text_idx'] == [3, 4]
    assert [item['video_idx'] for item in items] == [0, 1]


def test_missing_video_policy(root):
    (root / 'videos' / '-7KMZQEsJW4_205_208.avi').unlink()
    with pytest.raises(FileNotFoundError, match='1 of 2 videos are missing'):
        build(root)
    assert build(root, missing_video_policy='skip').num_videos == 1


def test_malformed_inputs_name_file_and_place(root):
    path = root / 'train_list.txt'
    path.write_text('-4wsuPCjDBc_5_15\n-7KMZQEsJW4_205_208 extra\n')
    with pytest.raises(ValueError, match=re.escape(f'{path}:2: expected one MSVD video id')):
        build(root)
    path.write_text('-4wsuPCjDBc_5_15\nunknown_1_2\n')
    with pytest.raises(ValueError, match=re.escape(f"{root / 'raw-captions.pkl'}: ['unknown_1_2']:"
                                                   f' expected captions for the video listed '
                                                   f'at {path}:2')):
        build(root)
    path.write_text('-4wsuPCjDBc_5_15\n')
    with open(root / 'raw-captions.pkl', 'wb') as file:
        pickle.dump({'-4wsuPCjDBc_5_15': [['a', 'man'], 'not tokens']}, file)
    with pytest.raises(ValueError, match=re.escape("['-4wsuPCjDBc_5_15'][1]: expected a "
                                                   'non-empty list of token strings')):
        build(root)
    with open(root / 'raw-captions.pkl', 'wb') as file:
        pickle.dump([['a']], file)
    with pytest.raises(ValueError, match=r'top level: expected \{video_id'):
        build(root)
    with pytest.raises(FileNotFoundError, match='captions_file'):
        build(root, captions_file='nope.pkl')
