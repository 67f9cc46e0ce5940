"""CachedFeatureDataset + PackCachedFeatures + the cached branch of RetrievalDataPreprocessor, on
synthetic cache files (no model, no video)."""
import pytest
import torch

from mmdret.datasets import CachedFeatureDataset
from mmdret.datasets.samplers.epoch_index import SeededIndex
from mmdret.models.data_preprocessors.retrieval_data_preprocessor import \
    RetrievalDataPreprocessor
from mmdret.utils import register_all_modules
from mmdret.utils.feature_cache import CACHE_FORMAT, CACHE_FORMAT_VERSION

register_all_modules()

L, T, D = 5, 3, 8
# video v has captions of VIDEO_OF_TEXT == v, in annotation order (video-major like MSRVTT).
VIDEO_OF_TEXT = [0, 0, 1, 2, 2, 2]


def make_cache(corrupt=(), dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    num_texts, num_videos = len(VIDEO_OF_TEXT), max(VIDEO_OF_TEXT) + 1
    token_mask = torch.zeros(num_texts, L, dtype=torch.long)
    for i in range(num_texts):
        token_mask[i, :2 + i % 3] = 1
    frame_mask = torch.ones(num_videos, T, dtype=torch.long)
    frame_mask[1, 2:] = 0
    for v in corrupt:
        frame_mask[v] = 0
    meta = dict(format=CACHE_FORMAT, format_version=CACHE_FORMAT_VERSION, split='train',
                fingerprint='f' * 40, encoder_config_sha1='c' * 40, encoder_state_sha1='s' * 40,
                checkpoint='stage1.pth', config='stage1.py', max_words=L, max_frames=T,
                embed_dim=D)
    texts = dict(caption=[f'caption {i}' for i in range(num_texts)],
                 tokens=torch.randn(num_texts, L, D, generator=gen).to(dtype)
                 * token_mask[..., None],
                 token_mask=token_mask,
                 eot=torch.randn(num_texts, D, generator=gen).to(dtype),
                 video_index=torch.tensor(VIDEO_OF_TEXT))
    videos = dict(video_id=[f'video{v}' for v in range(num_videos)],
                  frames=torch.randn(num_videos, T, D, generator=gen).to(dtype),
                  frame_mask=frame_mask,
                  corrupt=torch.tensor([v in corrupt for v in range(num_videos)]))
    return dict(meta=meta, texts=texts, videos=videos)


@pytest.fixture
def cache_file(tmp_path):
    path = tmp_path / 'train.pth'
    torch.save(make_cache(), path)
    return path


def test_train_mode_one_item_per_caption(cache_file):
    dataset = CachedFeatureDataset(str(cache_file))
    assert len(dataset) == 6 and dataset.num_videos == 3 and dataset.num_texts == 6
    assert dataset.fingerprint == 'f' * 40
    cache = make_cache()
    for text_idx in range(6):
        item = dataset[text_idx]
        video_idx = VIDEO_OF_TEXT[text_idx]
        meta = item['data_samples'].metainfo
        assert meta['video_idx'] == video_idx and meta['text_idx'] == [text_idx]
        assert meta['video_id'] == f'video{video_idx}' and meta['corrupt_video'] is False
        inputs = item['inputs']
        assert set(inputs) == {'text_tokens', 'text_mask', 'text_eot', 'video_frames',
                               'video_mask'}
        assert torch.equal(inputs['text_tokens'], cache['texts']['tokens'][[text_idx]])
        assert torch.equal(inputs['text_mask'], cache['texts']['token_mask'][[text_idx]])
        assert torch.equal(inputs['text_eot'], cache['texts']['eot'][[text_idx]])
        assert torch.equal(inputs['video_frames'], cache['videos']['frames'][video_idx])
        assert torch.equal(inputs['video_mask'], cache['videos']['frame_mask'][video_idx])
    assert dataset.get_data_info(2)['texts'] == ['caption 2']


def test_test_mode_groups_captions_per_video(cache_file):
    dataset = CachedFeatureDataset(str(cache_file), test_mode=True)
    assert len(dataset) == 3 and dataset.num_texts == 6
    expected = {0: [0, 1], 1: [2], 2: [3, 4, 5]}
    for video_idx, text_idx in expected.items():
        item = dataset[video_idx]
        assert item['data_samples'].metainfo['video_idx'] == video_idx
        assert item['data_samples'].metainfo['text_idx'] == text_idx
        assert item['inputs']['text_tokens'].shape == (len(text_idx), L, D)
        assert item['inputs']['video_frames'].shape == (T, D)


def test_random_caption_sampling(cache_file):
    dataset = CachedFeatureDataset(str(cache_file), caption_sampling='random')
    assert len(dataset) == 3
    # The caption is a function of (seed, epoch, index): fixed within an epoch, varying
    # across epochs.
    def caption(epoch, seed=0):
        return tuple(dataset[SeededIndex(2, seed, epoch)]['data_samples'].metainfo['text_idx'])

    assert {caption(3) for _ in range(5)} == {caption(3)}
    seen = {caption(epoch) for epoch in range(40)}
    assert seen <= {(3,), (4,), (5,)} and len(seen) > 1
    with pytest.raises(ValueError, match='caption_sampling'):
        CachedFeatureDataset(str(cache_file), caption_sampling='first')


def test_corrupt_videos_dropped_in_training_kept_in_testing(tmp_path):
    path = tmp_path / 'c.pth'
    torch.save(make_cache(corrupt=(2,)), path)
    train = CachedFeatureDataset(str(path))
    assert len(train) == 3 and train.num_texts == 6  # indices stay global
    assert {train.get_data_info(i)['video_idx'] for i in range(3)} == {0, 1}
    test = CachedFeatureDataset(str(path), test_mode=True)
    assert len(test) == 3
    item = test[2]
    assert item['data_samples'].metainfo['corrupt_video'] is True
    assert item['inputs']['video_mask'].sum() == 0


def test_data_root_and_registry(cache_file):
    from mmdret.registry import DATASETS
    dataset = DATASETS.build(dict(type='CachedFeatureDataset', data_root=str(cache_file.parent),
                                  feature_file=cache_file.name, test_mode=True))
    assert dataset.feature_file == str(cache_file) and len(dataset) == 3


def test_preprocessor_batches_cached_features(tmp_path):
    path = tmp_path / 'half.pth'
    torch.save(make_cache(dtype=torch.float16), path)
    dataset = CachedFeatureDataset(str(path), test_mode=True)
    items = [dataset[0], dataset[2]]
    batch = dict(inputs={k: [item['inputs'][k] for item in items] for k in items[0]['inputs']},
                 data_samples=[item['data_samples'] for item in items])
    out = RetrievalDataPreprocessor()(batch)
    inputs = out['inputs']
    assert inputs['text_tokens'].shape == (5, L, D) and inputs['text_tokens'].dtype == torch.float32
    assert inputs['text_mask'].shape == (5, L) and inputs['text_eot'].shape == (5, D)
    assert inputs['video_frames'].shape == (2, T, D)
    assert inputs['video_frames'].dtype == torch.float32
    assert inputs['video_mask'].shape == (2, T)
    cache = make_cache(dtype=torch.float16)
    assert torch.equal(inputs['text_eot'], cache['texts']['eot'][[0, 1, 3, 4, 5]].float())
    assert torch.equal(inputs['video_frames'], cache['videos']['frames'][[0, 2]].float())


def test_missing_file_names_the_command(tmp_path):
    path = tmp_path / 'nowhere' / 'test.pth'
    with pytest.raises(FileNotFoundError) as error:
        CachedFeatureDataset(str(path), test_mode=True)
    message = str(error.value)
    assert str(path) in message
    assert 'python tools/extract_features.py' in message and '--split test' in message
    assert f'--out {path}' in message


def test_expected_fingerprint(cache_file):
    CachedFeatureDataset(str(cache_file), expected_fingerprint='f' * 40)
    with pytest.raises(ValueError) as error:
        CachedFeatureDataset(str(cache_file), expected_fingerprint='0' * 40)
    message = str(error.value)
    assert str(cache_file) in message and 'f' * 40 in message and '0' * 40 in message
    assert 'tools/extract_features.py' in message


def corrupt_cache(edit):
    cache = make_cache()
    edit(cache)
    return cache


MALFORMED = [
    ('texts', lambda c: c.pop('texts')),
    ('meta.format', lambda c: c['meta'].update(format='something-else')),
    ('meta.format_version', lambda c: c['meta'].update(format_version=99)),
    ('meta.fingerprint', lambda c: c['meta'].pop('fingerprint')),
    ('texts.eot', lambda c: c['texts'].pop('eot')),
    ('texts.tokens', lambda c: c['texts'].update(tokens=torch.zeros(6, L))),
    ('texts.token_mask', lambda c: c['texts'].update(token_mask=torch.ones(6, L + 1,
                                                                          dtype=torch.long))),
    ('videos.frame_mask', lambda c: c['videos'].update(frame_mask=torch.ones(3, T))),
    ('videos.frames', lambda c: c['videos'].update(frames=torch.zeros(3, T, D + 1))),
    ('videos.corrupt', lambda c: c['videos'].update(corrupt=torch.zeros(2, dtype=torch.bool))),
    ('texts.caption', lambda c: c['texts'].update(caption=['only one'])),
    ('videos.video_id', lambda c: c['videos'].update(video_id='video0')),
    ('texts.video_index', lambda c: c['texts'].update(video_index=torch.tensor([0, 0, 1, 2, 2,
                                                                                 3]))),
]


@pytest.mark.parametrize('key,edit', MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_cache_names_file_and_key(tmp_path, key, edit):
    path = tmp_path / 'bad.pth'
    torch.save(corrupt_cache(edit), path)
    with pytest.raises(ValueError) as error:
        CachedFeatureDataset(str(path))
    message = str(error.value)
    assert str(path) in message and f'{key}:' in message
    assert 'tools/extract_features.py' in message


def test_unreadable_file(tmp_path):
    path = tmp_path / 'garbage.pth'
    path.write_bytes(b'not a torch file')
    with pytest.raises(ValueError, match='cannot be read'):
        CachedFeatureDataset(str(path))
