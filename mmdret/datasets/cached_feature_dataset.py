import os.path as osp
from collections import defaultdict

import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmdret.registry import DATASETS
from .base_retrieval_dataset import sample_caption
from mmdret.utils.feature_cache import CACHE_FORMAT, CACHE_FORMAT_VERSION, regenerate_command

# (section, key) -> (number of dims, dtype kind); the shapes are checked against each other.
FLOAT, INT, BOOL = 'float', 'int', 'bool'
TENSOR_SPECS = {
    ('texts', 'tokens'): (3, FLOAT),       # (N, L, D)
    ('texts', 'token_mask'): (2, INT),     # (N, L)
    ('texts', 'eot'): (2, FLOAT),          # (N, D)
    ('texts', 'video_index'): (1, INT),    # (N,)
    ('videos', 'frames'): (3, FLOAT),      # (V, T, D)
    ('videos', 'frame_mask'): (2, INT),    # (V, T)
    ('videos', 'corrupt'): (1, BOOL),      # (V,)
}
LIST_SPECS = {('texts', 'caption'): 'N', ('videos', 'video_id'): 'V'}


def load_feature_cache(path, split_hint='train|test'):
    """Load and validate a feature cache written by ``tools/extract_features.py``.

    Tensors are memory-mapped, so dataloader workers and ranks share the pages.

    Args:
        path (str): the cache file.
        split_hint (str): the split named in the command printed to regenerate the cache.
            Defaults to ``'train|test'``.

    Returns:
        dict: the cache, with the ``meta``, ``texts`` and ``videos`` sections.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message has the command creating it).
        ValueError: the file is not a feature cache, or a key is missing or malformed (the
            message names the file and the key).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Feature cache {path!r} does not exist. Create it from the stage-1 checkpoint '
            f'with: {regenerate_command(path, split_hint)}')
    try:
        cache = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception as error:  # torch raises several types for non-cache files
        raise ValueError(f'Feature cache {path!r} cannot be read ({type(error).__name__}: '
                         f'{error}); regenerate it with: '
                         f'{regenerate_command(path, split_hint)}') from error
    validate_feature_cache(cache, path, split_hint)
    return cache


def validate_feature_cache(cache, path, split_hint='train|test'):
    """Check keys, types and shapes of a loaded cache; errors name the file and the key.

    Args:
        cache (Any): the loaded cache, expected to be a dict with the ``meta``, ``texts`` and
            ``videos`` sections.
        path (str): the cache file, for the message.
        split_hint (str): the split named in the command printed to regenerate the cache.
            Defaults to ``'train|test'``.

    Raises:
        ValueError: on a missing, mistyped or misshapen entry, or a ``texts.video_index``
            value outside the videos.
    """
    fix = f'; regenerate it with: {regenerate_command(path, split_hint)}'

    def fail(key, problem):
        raise ValueError(f'Feature cache {path!r}: {key}: {problem}{fix}')

    if not isinstance(cache, dict):
        fail('<root>', f'expected a dict with meta/texts/videos, got {type(cache).__name__}')
    for section in ('meta', 'texts', 'videos'):
        if not isinstance(cache.get(section), dict):
            fail(section, 'missing or not a dict (is this a file written by '
                 'tools/extract_features.py?)')
    meta = cache['meta']
    if meta.get('format') != CACHE_FORMAT:
        fail('meta.format', f'expected {CACHE_FORMAT!r}, got {meta.get("format")!r}')
    if meta.get('format_version') != CACHE_FORMAT_VERSION:
        fail('meta.format_version', f'expected {CACHE_FORMAT_VERSION}, got '
             f'{meta.get("format_version")!r}')
    if not isinstance(meta.get('fingerprint'), str):
        fail('meta.fingerprint', 'missing')

    for (section, key), (ndim, kind) in TENSOR_SPECS.items():
        value = cache[section].get(key)
        name = f'{section}.{key}'
        if not isinstance(value, torch.Tensor):
            fail(name, f'missing or not a tensor (got {type(value).__name__})')
        if value.dim() != ndim:
            fail(name, f'expected {ndim} dims, got shape {tuple(value.shape)}')
        ok = {FLOAT: value.is_floating_point(), BOOL: value.dtype == torch.bool,
              INT: not value.is_floating_point() and not value.is_complex()}[kind]
        if not ok:
            fail(name, f'expected a {kind} tensor, got {value.dtype}')

    texts, videos = cache['texts'], cache['videos']
    num_texts, length, dim = texts['tokens'].shape
    num_videos, num_frames, video_dim = videos['frames'].shape
    expected = {
        'texts.token_mask': (num_texts, length), 'texts.eot': (num_texts, dim),
        'texts.video_index': (num_texts,), 'videos.frame_mask': (num_videos, num_frames),
        'videos.corrupt': (num_videos,)}
    for name, shape in expected.items():
        section, key = name.split('.')
        if tuple(cache[section][key].shape) != shape:
            fail(name, f'expected shape {shape} (from texts.tokens {tuple(texts["tokens"].shape)}'
                 f' and videos.frames {tuple(videos["frames"].shape)}), got '
                 f'{tuple(cache[section][key].shape)}')
    if video_dim != dim:
        fail('videos.frames', f'feature width {video_dim} differs from texts.tokens width {dim}')
    sizes = dict(N=num_texts, V=num_videos)
    for (section, key), size in LIST_SPECS.items():
        value = cache[section].get(key)
        if not isinstance(value, list) or len(value) != sizes[size]:
            length = len(value) if hasattr(value, '__len__') else '?'
            fail(f'{section}.{key}', f'expected a list of {sizes[size]} strings, got '
                 f'{type(value).__name__} of length {length}')
    if num_texts and (int(texts['video_index'].min()) < 0
                      or int(texts['video_index'].max()) >= num_videos):
        fail('texts.video_index', f'values must lie in [0, {num_videos})')


@DATASETS.register_module()
class CachedFeatureDataset(BaseDataset):
    """Stage-1 features cached by ``tools/extract_features.py``, for stage 2 (frozen encoder).

    Items carry the same metainfo as :class:`BaseRetrievalDataset` (``video_idx``, ``text_idx``,
    ``video_id``, ``texts``; global indices in annotation order), so the retrieval loops, metric
    and samplers work unchanged: training (``test_mode=False``) yields one item per caption with
    its video's features (``caption_sampling='all'``) or one item per video with one caption drawn
    at random each time (``'random'``), as :class:`BaseRetrievalDataset` does; testing yields one
    item per video with all its captions. Feature keys added
    to each item (packed by ``PackCachedFeatures``): ``text_tokens`` (N, L, D), ``text_mask``
    (N, L), ``text_eot`` (N, D), ``video_frames`` (T, D), ``video_mask`` (T,).

    Videos that failed to decode at extraction time (``videos.corrupt``) follow the default
    policies of the decode path: their items are dropped in training (with a warning) and kept
    with an empty frame mask in testing.

    Args:
        feature_file (str): the cache of this split; relative paths are joined with
            ``data_root``.
        expected_fingerprint (str, optional): refuse a cache whose ``meta.fingerprint`` differs
            (see :mod:`mmdret.utils.feature_cache`). The ``FeatureCacheCheckHook`` does the same
            check against the model's encoder. Defaults to None.
        pipeline (list[dict]): defaults to ``[dict(type='PackCachedFeatures')]``.
        caption_sampling (str): training items, ``'all'`` (default) or ``'random'``, see above.
        test_mode (bool): see above. Defaults to False.
        **kwargs (dict): passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, feature_file, expected_fingerprint=None,
                 pipeline=(dict(type='PackCachedFeatures'),), caption_sampling='all',
                 test_mode=False, **kwargs):
        if caption_sampling not in ('all', 'random'):
            raise ValueError("caption_sampling must be 'all' or 'random', got "
                             f'{caption_sampling!r}')
        self.caption_sampling = caption_sampling
        self.expected_fingerprint = expected_fingerprint
        self.texts = self.videos = self.feature_meta = None
        super().__init__(ann_file=feature_file, pipeline=list(pipeline), test_mode=test_mode,
                         **kwargs)

    @property
    def feature_file(self):
        return self.ann_file

    @property
    def fingerprint(self):
        return self.feature_meta['fingerprint']

    def _split_hint(self):
        return 'test' if self.test_mode else 'train'

    def load_data_list(self):
        cache = load_feature_cache(self.feature_file, self._split_hint())
        self.feature_meta, self.texts, self.videos = cache['meta'], cache['texts'], cache['videos']
        if (self.expected_fingerprint is not None
                and self.expected_fingerprint != self.fingerprint):
            raise ValueError(
                f'Feature cache {self.feature_file!r} has fingerprint {self.fingerprint} but '
                f'expected_fingerprint is {self.expected_fingerprint}: the cache was extracted '
                f'with a different encoder (checkpoint {self.feature_meta.get("checkpoint")!r}, '
                f'config {self.feature_meta.get("config")!r}). Regenerate it from the stage-1 '
                'checkpoint this model loads: '
                f'{regenerate_command(self.feature_file, self._split_hint())}')

        self.num_videos = len(self.videos['video_id'])
        self.num_texts = len(self.texts['caption'])
        texts_of = defaultdict(list)
        for text_idx, video_idx in enumerate(self.texts['video_index'].tolist()):
            texts_of[video_idx].append(text_idx)
        corrupt = self.videos['corrupt'].tolist()
        captions = self.texts['caption']
        data_list, dropped = [], 0
        for video_idx, video_id in enumerate(self.videos['video_id']):
            indices = texts_of[video_idx]
            common = dict(video_id=video_id, video_idx=video_idx, corrupt=corrupt[video_idx])
            if not self.test_mode and corrupt[video_idx]:
                dropped += len(indices)
            elif self.test_mode or self.caption_sampling == 'random':
                data_list.append(dict(common, texts=[captions[i] for i in indices],
                                      text_idx=indices))
            else:
                data_list.extend(dict(common, texts=[captions[i]], text_idx=[i])
                                 for i in indices)
        if dropped:
            print_log(f'{self.feature_file}: dropped {dropped} training captions of '
                      f'{sum(corrupt)} videos that failed to decode at extraction',
                      logger='current', level=30)
        return data_list

    def get_data_info(self, idx):
        return sample_caption(super().get_data_info(idx), self.test_mode,
                              self.caption_sampling, idx)

    def get_features(self, info):
        """Feature tensors of an item (kept out of ``get_data_info`` so that samplers reading
        the metainfo of every item stay cheap).

        Args:
            info (dict): the item's data info, with ``text_idx`` (list[int]) and ``video_idx``
                (int).

        Returns:
            dict[str, Tensor]: ``text_tokens`` (N, L, D), ``text_mask`` (N, L), ``text_eot``
            (N, D), ``video_frames`` (T, D) and ``video_mask`` (T,).
        """
        text_idx, video_idx = info['text_idx'], info['video_idx']
        return dict(text_tokens=self.texts['tokens'][text_idx],
                    text_mask=self.texts['token_mask'][text_idx],
                    text_eot=self.texts['eot'][text_idx],
                    video_frames=self.videos['frames'][video_idx],
                    video_mask=self.videos['frame_mask'][video_idx])

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        info.update(self.get_features(info))
        return self.pipeline(info)
