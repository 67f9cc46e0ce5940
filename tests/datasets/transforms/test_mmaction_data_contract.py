"""mmdret's datasets and transforms speak mmaction2's keys: items carry what mmaction2's
sampling/decoding transforms read, LoadVideoFrames writes mmaction2's result keys, and
TokenizeCaptions / PackRetrievalInputs accept what mmaction2's dataset and decoders give."""
import numpy as np
import pytest
import torch
from mmaction.datasets.transforms import DecordDecode, DecordInit, UniformSample

from mmdret.datasets import MSRVTTRetrievalDataset
from mmdret.datasets.transforms import LoadVideoFrames, PackRetrievalInputs, TokenizeCaptions
from mmdret.utils import register_all_modules

from test_load_video_frames import frame_index, write_indexed_video

register_all_modules()


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """6 s at 4 fps: frames 0..23, each showing its index."""
    return write_indexed_video(tmp_path_factory.mktemp('videos') / 'six_s.mp4', 24, 4)


def mmaction_decode(path, clip_len, test_mode=True):
    results = dict(filename=path, start_index=0, modality='RGB')
    for transform in (DecordInit(), UniformSample(clip_len, test_mode=test_mode), DecordDecode()):
        results = transform(results)
    return results


def test_load_video_frames_writes_mmaction_result_keys(video):
    results = LoadVideoFrames(max_frames=4)(dict(filename=video))
    assert results['frame_inds'].tolist() == [0, 4, 12, 20]  # 1 fps of 6 s, 4 of 6 kept
    assert (results['clip_len'], results['num_clips']) == (4, 1)
    assert results['img_shape'] == results['original_shape'] == (16, 64)
    # mmaction2's decoder, given the same frame indices, decodes the same frames.
    reference = DecordDecode()(DecordInit()(dict(filename=video, frame_inds=results['frame_inds'])))
    for ours, theirs in zip(results['imgs'], reference['imgs']):
        assert np.array_equal(ours, theirs)
    assert len(reference['imgs']) == 4


def tokenized(**text_keys):
    return TokenizeCaptions(max_words=16)(dict(text_keys))


def test_tokenize_captions_reads_mmaction_text_key():
    ours = tokenized(texts=['a dog runs'])
    theirs = tokenized(text='a dog runs')
    assert torch.equal(ours['text'], theirs['text']) and theirs['text'].shape == (1, 16)
    assert torch.equal(tokenized(text=['a', 'b'])['text'], tokenized(texts=['a', 'b'])['text'])
    with pytest.raises(KeyError, match='"texts"'):
        tokenized(caption='a dog runs')


def pack(results, max_frames=6):
    results = dict(results, **tokenized(text='a dog runs'))
    return PackRetrievalInputs(max_frames=max_frames)(results)


def test_pack_accepts_mmaction_decoding_and_derives_valid_frames(video):
    decoded = mmaction_decode(video, clip_len=4)
    assert 'num_valid_frames' not in decoded
    packed = pack(dict(decoded, sample_idx=7))
    assert packed['inputs']['video_mask'].tolist() == [1, 1, 1, 1, 0, 0]
    shown = [frame_index(f.permute(1, 2, 0).numpy()) for f in packed['inputs']['video'][:4]]
    assert shown == decoded['frame_inds'].tolist()
    assert not packed['inputs']['video'][4:].any()
    # mmaction2's VideoTextDataset numbers nothing: the pair is its own video and caption.
    meta = packed['data_samples'].metainfo
    assert (meta['video_idx'], meta['text_idx']) == (7, [7])


def test_pack_keeps_dataset_indices_and_valid_counts(video):
    results = LoadVideoFrames(max_frames=4)(dict(filename=video))
    results.update(video_idx=3, text_idx=[5, 6], sample_idx=0, num_valid_frames=2)
    packed = pack(results)
    assert packed['inputs']['video_mask'].tolist() == [1, 1, 0, 0, 0, 0]
    meta = packed['data_samples'].metainfo
    assert (meta['video_idx'], meta['text_idx']) == (3, [5, 6])


def test_pack_rejects_more_frames_than_max_frames(video):
    with pytest.raises(ValueError, match=r'max_frames=6\) got 8 frames.*clip_len'):
        pack(mmaction_decode(video, clip_len=8))


@pytest.fixture
def msrvtt_root(tmp_path):
    (tmp_path / 'videos').mkdir()
    for i in range(2):
        (tmp_path / 'videos' / f'video{i}.mp4').touch()
    (tmp_path / 'train.csv').write_text('video_id\nvideo0\nvideo1\n')
    (tmp_path / 'data.json').write_text(
        '{"sentences": [{"video_id": "video0", "caption": "a man cooks"}, '
        '{"video_id": "video0", "caption": "someone cooks"}, '
        '{"video_id": "video1", "caption": "a cat jumps"}]}')
    return tmp_path


@pytest.mark.parametrize('caption_sampling', ['all', 'random'])
def test_dataset_items_carry_mmaction_keys(msrvtt_root, caption_sampling):
    dataset = MSRVTTRetrievalDataset(
        ann_file='train.csv', sentences_file='data.json', data_root=str(msrvtt_root),
        data_prefix=dict(video='videos'), pipeline=[], caption_sampling=caption_sampling)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert (info['start_index'], info['modality']) == (0, 'RGB')
        assert info['filename'].endswith(f"{info['video_id']}.mp4")
        # mmaction2's ``text``: one caption string, the (sampled) first of ``texts``.
        assert isinstance(info['text'], str) and info['text'] == info['texts'][0]
