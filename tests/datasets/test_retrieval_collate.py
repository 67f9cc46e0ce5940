"""retrieval_collate joins frames and captions in the worker; the data preprocessor gives the
same batch, bit for bit, from it as from pseudo_collate's lists."""
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.structures import BaseDataElement

from mmdret.datasets import retrieval_collate
from mmdret.models.data_preprocessors import RetrievalDataPreprocessor


def video_item(num_captions, valid, seed):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(4, dtype=torch.long)
    mask[:valid] = 1
    video = torch.randint(0, 256, (4, 3, 8, 8), generator=gen, dtype=torch.uint8)
    inputs = dict(video=video * mask[:, None, None, None].to(torch.uint8), video_mask=mask,
                  text=torch.randint(1, 100, (num_captions, 6), generator=gen),
                  text_mask=torch.ones(num_captions, 6, dtype=torch.long))
    return dict(inputs=inputs, data_samples=BaseDataElement(metainfo=dict(video_idx=seed)))


def cached_item(num_captions, seed):
    gen = torch.Generator().manual_seed(seed)
    inputs = dict(video_frames=torch.randn(4, 5, generator=gen).half(),
                  video_mask=torch.ones(4, dtype=torch.long),
                  text_tokens=torch.randn(num_captions, 6, 5, generator=gen).half(),
                  text_mask=torch.ones(num_captions, 6, dtype=torch.long),
                  text_eot=torch.randn(num_captions, 5, generator=gen).half())
    return dict(inputs=inputs, data_samples=BaseDataElement(metainfo=dict(video_idx=seed)))


def assert_same_batch(items):
    preprocessor = RetrievalDataPreprocessor()
    joined = retrieval_collate(items)
    for key, value in joined['inputs'].items():
        assert isinstance(value, torch.Tensor), key
    from_lists = preprocessor(pseudo_collate(items))
    from_joined = preprocessor(joined)
    assert from_lists['inputs'].keys() == from_joined['inputs'].keys()
    for key in from_lists['inputs']:
        assert torch.equal(from_lists['inputs'][key], from_joined['inputs'][key]), key
    assert [s.video_idx for s in from_joined['data_samples']] == list(range(len(items)))
    return from_joined['inputs']


def test_videos_with_several_captions_and_padded_frames():
    items = [video_item(1, 4, 0), video_item(3, 2, 1), video_item(2, 1, 2)]
    batch = assert_same_batch(items)
    assert batch['video'].shape == (3, 4, 3, 8, 8) and batch['text'].shape == (6, 6)
    assert batch['video'].dtype == torch.float32
    # Padded frames are zero after normalisation.
    assert not batch['video'][1, 2:].any() and batch['video'][1, :2].abs().sum() > 0


def test_cached_features():
    batch = assert_same_batch([cached_item(2, 0), cached_item(1, 1)])
    assert batch['text_tokens'].shape == (3, 6, 5) and batch['video_frames'].dtype == torch.float32


def test_preprocessor_leaves_a_float_input_unchanged():
    # The normalisation runs in place on a copy, also when the frames come as float32.
    joined = retrieval_collate([video_item(1, 4, 0), video_item(1, 3, 1)])
    video = joined['inputs']['video'].float()
    joined['inputs']['video'] = video
    original = video.clone()
    out = RetrievalDataPreprocessor()(joined)['inputs']['video']
    assert torch.equal(video, original) and not torch.equal(out, original)


def test_config_name_resolves_as_the_runner_looks_it_up():
    # mmengine's Runner asks its root FUNCTIONS registry, whatever the default scope.
    init_default_scope('mmdret')
    assert FUNCTIONS.get('mmdret.datasets.retrieval_collate') is retrieval_collate
