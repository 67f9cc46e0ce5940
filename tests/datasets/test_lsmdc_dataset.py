"""LSMDCRetrievalDataset on fixtures in the official LSMDC16 tab-separated format."""
import re

import pytest

from mmdret.datasets import LSMDCRetrievalDataset
from mmdret.datasets.lsmdc_dataset import LSMDC_SKIPPED_CLIPS, lsmdc_movie

A = '1001_Flight_00.00.56.685-00.01.02.961'
B = '1001_Flight_00.01.05.000-00.01.07.000'
C = '3001_21_JUMP_STREET_00.00.10.000-00.00.12.000'
SKIPPED = LSMDC_SKIPPED_CLIPS[0]


def row(clip, sentence):
    # <CLIP_ID> <START_ALIGNED> <END_ALIGNED> <START_EXTRACTED> <END_EXTRACTED> <SENTENCE>
    return '\t'.join([clip, '00.00.56.685', '00.01.02.961', '00.00.56.000', '00.01.03.000',
                      sentence]) + '\n'


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos' / '1001_Flight').mkdir(parents=True)
    for clip in (A, B):  # the release layout: <movie>/<clip_id>.avi
        (tmp_path / 'videos' / '1001_Flight' / f'{clip}.avi').touch()
    (tmp_path / 'videos' / f'{C}.avi').touch()  # a flat one
    (tmp_path / 'videos' / f'{SKIPPED}.avi').touch()
    (tmp_path / 'LSMDC16_annos_training.csv').write_text(
        row(A, 'SOMEONE flies a plane.') + row(A, 'He lands it.') + row(SKIPPED, 'skipped')
        + row(B, 'SOMEONE smiles.') + '\n' + row(C, 'A car drives by.'))
    (tmp_path / 'LSMDC16_challenge_1000_publictect.csv').write_text(
        row(B, 'SOMEONE smiles.') + row(C, 'A car drives by.'))
    return tmp_path


def build(root, ann_file='LSMDC16_annos_training.csv', **kwargs):
    return LSMDCRetrievalDataset(ann_file=ann_file, data_root=str(root),
                                 data_prefix=dict(video='videos'), pipeline=[], **kwargs)


def test_movie_folder_rule():
    assert lsmdc_movie(A) == '1001_Flight'
    assert lsmdc_movie(C) == '3001_21_JUMP_STREET'


def test_train_pairs_and_captions(root):
    dataset = build(root)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (3, 4, 4)
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [item['video_id'] for item in items] == [A, A, B, C]
    assert items[1]['texts'] == ['He lands it.'] and items[1]['text_idx'] == [1]
    assert items[0]['filename'].endswith(f'videos/1001_Flight/{A}.avi')
    assert items[3]['filename'].endswith(f'videos/{C}.avi')  # 'auto' falls back to flat
    assert all(SKIPPED not in item['video_id'] for item in items)
    # one item per video with a random caption
    assert len(build(root, caption_sampling='random')) == 3


def test_public_test_split(root):
    dataset = build(root, 'LSMDC16_challenge_1000_publictect.csv', test_mode=True)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 2, 2)
    assert dataset.get_data_info(0)['texts'] == ['SOMEONE smiles.']


def test_skip_list_is_configurable(root):
    assert build(root, skip_clips=()).num_videos == 4


def test_layouts_and_missing_videos(root):
    with pytest.raises(FileNotFoundError, match=re.escape(C)):
        build(root, video_layout='movie')
    dataset = build(root, video_layout='movie', missing_video_policy='skip')
    assert [dataset.get_data_info(i)['video_id'] for i in range(len(dataset))] == [A, A, B]
    with pytest.raises(ValueError, match='video_layout'):
        build(root, video_layout='nested')


def test_malformed_row_names_file_and_line(root):
    path = root / 'LSMDC16_annos_training.csv'
    path.write_text(row(A, 'ok') + row(B, 'ok') + f'{C}\t00.00.10.000\tA car.\n')
    with pytest.raises(ValueError, match=re.escape(f'{path}:3: expected 6 tab-separated fields')
                       + r'.*<CLIP_ID>.*<SENTENCE>.*found 3'):
        build(root)
    path.write_text(row(A, 'ok') + row(B, ''))
    with pytest.raises(ValueError, match=re.escape(f'{path}:2: expected a clip id and a '
                                                   'sentence')):
        build(root)
