"""CharadesRetrievalDataset on fixtures in the official Charades_v1_{train,test}.csv format."""
import csv
import re

import pytest

from mmdret.datasets import CharadesRetrievalDataset

HEADER = ['id', 'subject', 'scene', 'quality', 'relevance', 'verified', 'script', 'objects',
          'descriptions', 'actions', 'length']
ROWS = [
    ['46GP8', 'HR43', 'Kitchen', '6', '7', 'Yes',
     'A person cooking on a stove while watching something out a window.', 'food;stove;window',
     'A person cooks food on a stove before looking out of a window.',
     'c092 11.90 21.20;c147 0.00 12.60', '24.83'],
    ['N11GT', 'P0MD', 'Stairs', '6', '7', 'Yes',
     'One person opens up a folded blanket, then "snuggles" with it.', 'blanket', '',
     'c022 5.60 12.30', '30.58'],
    ['0IH69', 'IPNV', 'Bedroom', '4', '7', 'Yes', 'A person is laughing,\nthen sits.', '', '',
     '', '31.96'],
]


def write(path, rows):
    with open(path, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(rows)


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for row in ROWS:
        (tmp_path / 'videos' / f'{row[0]}.mp4').touch()
    write(tmp_path / 'Charades_v1_train.csv', ROWS)
    write(tmp_path / 'Charades_v1_test.csv', ROWS[1:])
    return tmp_path


def build(root, ann_file='Charades_v1_train.csv', **kwargs):
    return CharadesRetrievalDataset(ann_file=ann_file, data_root=str(root),
                                    data_prefix=dict(video='videos'), pipeline=[], **kwargs)


@pytest.mark.parametrize('test_mode', [False, True])
def test_one_script_per_video(root, test_mode):
    dataset = build(root, test_mode=test_mode)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (3, 3, 3)
    items = [dataset.get_data_info(i) for i in range(3)]
    assert items[1]['texts'] == ['One person opens up a folded blanket, then "snuggles" with it.']
    assert items[2]['texts'] == ['A person is laughing,\nthen sits.']  # quoted multi-line field
    assert items[0]['filename'].endswith('videos/46GP8.mp4')
    assert build(root, 'Charades_v1_test.csv', test_mode=True).num_videos == 2


def test_missing_video_policy(root):
    (root / 'videos' / '46GP8.mp4').unlink()
    with pytest.raises(FileNotFoundError, match='46GP8'):
        build(root)
    assert build(root, missing_video_policy='skip').num_videos == 2


def test_malformed_rows_name_file_and_line(root):
    path = root / 'Charades_v1_train.csv'
    write(path, [ROWS[0], ROWS[1][:6] + [''] + ROWS[1][7:]])
    with pytest.raises(ValueError, match=re.escape(f'{path}:3: expected a value in each of '
                                                   "['id', 'script'] (['script'] empty)")):
        build(root)
    path.write_text('id,scene\n46GP8,Kitchen\n')
    with pytest.raises(ValueError, match=re.escape(f'{path}:1: expected the Charades_v1 header')):
        build(root)
    write(path, [ROWS[0], ROWS[0]])
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: expected each id once ('46GP8' "
                                                   'is also on line 2)')):
        build(root)
