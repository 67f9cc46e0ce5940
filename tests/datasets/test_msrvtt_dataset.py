"""MSRVTTRetrievalDataset on fixtures in the official CLIP4Clip / DiffusionRet file formats:
9k/7k train csv + MSRVTT_data.json, JSFusion 1k-A test csv, and the multi-caption test protocol."""
import json
import re

import pytest

from mmdret.datasets import MSRVTTRetrievalDataset

SENTENCES = [('video0', 'a man cooks'), ('video1', 'a cat jumps'), ('video0', 'someone cooks'),
             ('video2', 'a dog runs'), ('video2', 'the dog is running'), ('video2', 'a puppy')]


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for i in range(3):
        (tmp_path / 'videos' / f'video{i}.mp4').touch()
    (tmp_path / 'MSRVTT_train.9k.csv').write_text('video_id\nvideo0\nvideo1\n')
    (tmp_path / 'MSRVTT_JSFUSION_test.csv').write_text(
        'key,vid_key,video_id,sentence\nret0,msr2,video2,"a dog runs, fast"\n'
        'ret1,msr0,video0,a man cooks\n')
    data = dict(info={}, videos=[dict(video_id=f'video{i}') for i in range(3)],
                sentences=[dict(video_id=v, caption=c, sen_id=i)
                           for i, (v, c) in enumerate(SENTENCES)])
    (tmp_path / 'MSRVTT_data.json').write_text(json.dumps(data))
    return tmp_path


def build(root, ann_file='MSRVTT_train.9k.csv', **kwargs):
    kwargs.setdefault('sentences_file', 'MSRVTT_data.json')
    return MSRVTTRetrievalDataset(ann_file=ann_file, data_root=str(root),
                                  data_prefix=dict(video='videos'), pipeline=[], **kwargs)


def test_train_split_uses_every_caption_of_its_videos(root):
    dataset = build(root)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 3, 3)
    texts = [dataset.get_data_info(i)['texts'] for i in range(3)]
    assert texts == [['a man cooks'], ['someone cooks'], ['a cat jumps']]


def test_jsfusion_test_has_one_caption_per_video(root):
    dataset = build(root, 'MSRVTT_JSFUSION_test.csv', sentences_file=None, test_mode=True)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 2, 2)
    first = dataset.get_data_info(0)
    assert first['texts'] == ['a dog runs, fast'] and first['filename'].endswith('video2.mp4')


def test_full_test_protocol_uses_all_captions_of_the_test_videos(root):
    dataset = build(root, 'MSRVTT_JSFUSION_test.csv', test_mode=True, full_test_captions=True)
    assert (dataset.num_videos, dataset.num_texts, len(dataset)) == (2, 5, 2)
    items = [dataset.get_data_info(i) for i in range(2)]
    assert items[0]['texts'] == ['a dog runs', 'the dog is running', 'a puppy']
    assert items[0]['text_idx'] == [0, 1, 2] and items[1]['text_idx'] == [3, 4]


def test_malformed_inputs_name_file_and_place(root):
    test_csv = root / 'MSRVTT_JSFUSION_test.csv'
    test_csv.write_text('key,video_id\nret0,video2\n')
    with pytest.raises(ValueError, match=re.escape(f'{test_csv}:1: expected the JSFusion header')):
        build(root, 'MSRVTT_JSFUSION_test.csv', test_mode=True)
    test_csv.write_text('key,vid_key,video_id,sentence\nret0,msr2,video2,a dog\nret1,msr0,,x\n')
    with pytest.raises(ValueError, match=re.escape(f'{test_csv}:3: expected a value')):
        build(root, 'MSRVTT_JSFUSION_test.csv', test_mode=True)
    sentences = root / 'MSRVTT_data.json'
    sentences.write_text(json.dumps(dict(sentences=[dict(video_id='video0')])))
    with pytest.raises(ValueError, match=re.escape(f"{sentences}: sentences[0]: expected an "
                                                   "object with 'video_id' and 'caption'")):
        build(root)
    sentences.write_text('{"sentences": [')
    with pytest.raises(ValueError, match=re.escape(f'{sentences}:1: expected valid JSON')):
        build(root)
    sentences.write_text(json.dumps(dict(sentences=[dict(video_id='video0', caption='x')])))
    with pytest.raises(ValueError, match='no captions for 1 videos'):
        build(root)
    with pytest.raises(FileNotFoundError, match='sentences_file'):
        build(root, sentences_file='missing.json')


# -- inputs that used to pass silently or fail without naming the place ------------------------
def test_header_only_test_csv_names_file_line_and_form(root):
    (root / 'MSRVTT_JSFUSION_test.csv').write_text('key,vid_key,video_id,sentence\n')
    with pytest.raises(ValueError, match=re.escape(
            f'{root}/MSRVTT_JSFUSION_test.csv:2: expected at least one row after the header; '
            'form the JSFusion header key,vid_key,video_id,sentence')):
        build(root, 'MSRVTT_JSFUSION_test.csv', sentences_file=None, test_mode=True)


def test_header_only_train_csv_is_an_error(root):
    (root / 'MSRVTT_train.9k.csv').write_text('video_id\n')
    with pytest.raises(ValueError, match=re.escape(
            f'{root}/MSRVTT_train.9k.csv:2: expected at least one row after the header')):
        build(root)


def test_non_utf8_byte_names_file_line_and_column(root):
    (root / 'MSRVTT_JSFUSION_test.csv').write_bytes(
        b'key,vid_key,video_id,sentence\nret0,msr2,video2,a dog\nret1,msr0,video0,caf\xe9\n')
    with pytest.raises(ValueError, match=re.escape(
            f'{root}/MSRVTT_JSFUSION_test.csv:3: expected UTF-8 text (the JSFusion header '
            'key,vid_key,video_id,sentence); byte 0xe9 at column 21 is not UTF-8')):
        build(root, 'MSRVTT_JSFUSION_test.csv', sentences_file=None, test_mode=True)
    text = (root / 'MSRVTT_data.json').read_bytes()
    (root / 'MSRVTT_data.json').write_bytes(text.replace(b'a cat', b'a \xff cat'))
    with pytest.raises(ValueError, match=re.escape(f'{root}/MSRVTT_data.json:1: expected UTF-8')):
        build(root)


@pytest.mark.parametrize('caption', [7, None, ['a', 'list'], '  '])
def test_caption_that_is_not_a_string_names_its_key(root, caption):
    data = json.loads((root / 'MSRVTT_data.json').read_text())
    data['sentences'][2]['caption'] = caption
    (root / 'MSRVTT_data.json').write_text(json.dumps(data))
    with pytest.raises(ValueError, match=re.escape(
            f'{root}/MSRVTT_data.json: sentences[2].caption: expected a caption that is a '
            'non-empty string; form {"sentences"')):
        build(root)


def test_duplicated_video_in_test_csv_names_both_lines(root):
    (root / 'MSRVTT_JSFUSION_test.csv').write_text(
        'key,vid_key,video_id,sentence\nret0,msr2,video2,a dog\nret1,msr0,video0,a man\n'
        'ret2,msr2,video2,another dog\n')
    with pytest.raises(ValueError, match=re.escape(
            f"{root}/MSRVTT_JSFUSION_test.csv:4: expected the JSFusion header "
            "key,vid_key,video_id,sentence, each video_id once ('video2' is also on line 2)")):
        build(root, 'MSRVTT_JSFUSION_test.csv', sentences_file=None, test_mode=True)


def test_byte_order_mark_is_accepted(root):
    path = root / 'MSRVTT_JSFUSION_test.csv'
    path.write_bytes(b'\xef\xbb\xbf' + path.read_bytes())
    dataset = build(root, 'MSRVTT_JSFUSION_test.csv', sentences_file=None, test_mode=True)
    assert dataset.num_videos == 2
