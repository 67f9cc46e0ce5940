import os.path as osp
import random
import warnings

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from .transforms.load_video_frames import VideoDecodeError

CORRUPT_POLICIES = ('skip', 'mask', 'raise')
MISSING_POLICIES = ('skip', 'raise')
CAPTION_SAMPLING = ('all', 'random')
# What mmaction2's datasets put in every item: frame numbering from 0, RGB video.
START_INDEX = 0
MODALITY = 'RGB'


def sample_caption(info, test_mode, caption_sampling, index):
    """Keep one random caption of a per-video training item (``caption_sampling='random'``).

    The caption is a function of the sampler's seed, the epoch and the item ``index`` (a
    :class:`~mmdret.datasets.samplers.SeededIndex` from ``BlockShuffleSampler`` or
    ``EpochAwareSampler``), never of a process's RNG state, so that every dataloader worker
    and a resumed run draw the same caption. A plain ``int`` index counts as seed 0, epoch 0
    (the same caption every epoch), with a warning (warned once per process).

    Args:
        info (dict): the item, with ``texts`` and ``text_idx``.
        test_mode (bool): test items keep all captions.
        caption_sampling (str): ``'all'`` or ``'random'``.
        index (int | SeededIndex): the item index the sampler gave.
    """
    if not test_mode and caption_sampling == 'random':
        seed, epoch = getattr(index, 'seed', None), getattr(index, 'epoch', None)
        if seed is None or epoch is None:
            warnings.warn("caption_sampling='random' without a sampler passing the epoch (use "
                          "'BlockShuffleSampler' or 'EpochAwareSampler'): item captions repeat "
                          'every epoch')
            seed, epoch = seed or 0, epoch or 0
        pick = random.Random(f'{seed}/{epoch}/{int(index)}').randrange(len(info['texts']))
        info.update(texts=[info['texts'][pick]], text_idx=[info['text_idx'][pick]])
    return info


class BaseRetrievalDataset(BaseDataset):
    """Base of the text-video retrieval datasets: videos, their captions, and stated policies.

    Subclasses implement :meth:`load_video_captions` returning ``[(video_id, [caption, ...])]``
    for the split. Training (``test_mode=False``) yields one item per caption
    (``caption_sampling='all'``, the DiffusionRet/CLIP4Clip protocol) or one item per video with
    a caption drawn at random each time (``'random'``, the X-Pool/DITS protocol). Testing yields
    one item per video with all its captions, so that multi-caption test sets are scored
    correctly (every caption is a text query; a video is a video query whose positives are its
    captions).

    Every item carries ``video_idx`` and ``text_idx`` (global, in annotation order);
    ``num_videos`` / ``num_texts`` give the gallery sizes.

    Args:
        ann_file (str): the split's annotation file.
        data_prefix (dict): ``video`` folder holding the videos. Defaults to ``dict(video='')``.
        video_ext (str): extension of the video files. Defaults to ``'.mp4'``.
        missing_video_policy (str): videos absent at start: ``'raise'`` (default) stops with the
            list, ``'skip'`` drops their items with a warning naming how many and which.
        corrupt_video_policy (str, optional): a video that fails to decode during the run is
            always logged and counted; then ``'skip'`` replaces the item by another (train only),
            ``'mask'`` keeps it with an all-zero frame mask (the video stays in the gallery, so
            test metrics stay comparable) and ``'raise'`` stops. None picks ``'skip'`` for
            training and ``'mask'`` for testing.
        caption_sampling (str): training items, ``'all'`` (default) or ``'random'``, see above.
        test_mode (bool): build the test items (one per video with all its captions) instead of
            the training items. Defaults to False.
        **kwargs (dict): passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 ann_file,
                 data_prefix=dict(video=''),
                 video_ext='.mp4',
                 missing_video_policy='raise',
                 corrupt_video_policy=None,
                 caption_sampling='all',
                 test_mode=False,
                 **kwargs):
        if corrupt_video_policy is None:
            corrupt_video_policy = 'mask' if test_mode else 'skip'
        for name, value, choices in (
                ('missing_video_policy', missing_video_policy, MISSING_POLICIES),
                ('corrupt_video_policy', corrupt_video_policy, CORRUPT_POLICIES),
                ('caption_sampling', caption_sampling, CAPTION_SAMPLING)):
            if value not in choices:
                raise ValueError(f'{name} must be one of {choices}, got {value!r}')
        if test_mode and corrupt_video_policy == 'skip':
            raise ValueError("corrupt_video_policy='skip' would change the test gallery; use "
                             "'mask' or 'raise' for test sets")
        self.caption_sampling = caption_sampling
        self.video_ext = video_ext
        self.missing_video_policy = missing_video_policy
        self.corrupt_video_policy = corrupt_video_policy
        self.num_corrupt_videos = 0
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, test_mode=test_mode,
                         **kwargs)

    # -- annotation loading ------------------------------------------------------------------
    def load_video_captions(self):
        raise NotImplementedError

    def video_path(self, video_id):
        """The video file of ``video_id``.

        Args:
            video_id (str): the annotation's video id.
        """
        return osp.join(self.data_prefix['video'], video_id + self.video_ext)

    def _check_inputs(self):
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: ann_file {self.ann_file!r} does not exist')
        video_dir = self.data_prefix.get('video', '')
        if not osp.isdir(video_dir):
            raise FileNotFoundError(
                f"{type(self).__name__}: data_prefix['video'] {video_dir!r} is not a directory")

    def load_data_list(self):
        self._check_inputs()
        videos = self._drop_missing(self.load_video_captions())
        data_list, text_idx = [], 0
        self.num_videos = len(videos)
        for video_idx, (video_id, captions) in enumerate(videos):
            indices = list(range(text_idx, text_idx + len(captions)))
            text_idx += len(captions)
            common = dict(video_id=video_id, filename=self.video_path(video_id),
                          video_idx=video_idx)
            if self.test_mode or self.caption_sampling == 'random':
                data_list.append(dict(common, texts=list(captions), text_idx=indices))
            else:
                data_list.extend(dict(common, texts=[caption], text_idx=[index])
                                 for caption, index in zip(captions, indices))
        self.num_texts = text_idx
        return data_list

    def _drop_missing(self, videos):
        missing = [video_id for video_id, _ in videos
                   if not osp.isfile(self.video_path(video_id))]
        if not missing:
            return videos
        where = f"{self.data_prefix['video']!r} (ann_file {self.ann_file!r})"
        listing = ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else '')
        if self.missing_video_policy == 'raise':
            raise FileNotFoundError(f'{len(missing)} of {len(videos)} videos are missing from '
                                    f"{where}: {listing}. Set missing_video_policy='skip' to "
                                    'drop them.')
        print_log(f'Skipping {len(missing)} of {len(videos)} videos missing from {where}: '
                  f'{listing}', logger='current', level=30)
        missing = set(missing)
        return [item for item in videos if item[0] not in missing]

    # -- items ---------------------------------------------------------------------------------
    def get_data_info(self, idx):
        """Item ``idx`` with its captions drawn, plus the keys mmaction2's transforms read.

        Besides ``video_id``, ``filename``, ``video_idx``, ``texts`` and ``text_idx``, an item
        carries what mmaction2's ``VideoTextDataset`` and ``BaseActionDataset`` set, so its
        sampling/decoding transforms (``DecordInit``, ``UniformSample``, ``DecordDecode``) and
        text transforms work on it: ``start_index`` (0), ``modality`` (``'RGB'``) and ``text``,
        the item's first caption (after caption sampling) as one string.

        Args:
            idx (int): Item index.

        Returns:
            dict: The item's information.
        """
        info = sample_caption(super().get_data_info(idx), self.test_mode,
                              self.caption_sampling, idx)
        info.update(start_index=START_INDEX, modality=MODALITY, text=info['texts'][0])
        return info

    def prepare_data(self, idx):
        """The item through the pipeline, applying the corrupt-video policy.

        Args:
            idx (int): item index.
        """
        info = self.get_data_info(idx)
        try:
            return self.pipeline(dict(info))
        except VideoDecodeError as error:
            self.num_corrupt_videos += 1
            print_log(f'{error} [policy {self.corrupt_video_policy!r}; corrupt videos met by '
                      f'this worker: {self.num_corrupt_videos}]', logger='current', level=30)
            if self.corrupt_video_policy == 'raise':
                raise
            if self.corrupt_video_policy == 'skip':
                return None
            return self.pipeline(dict(info, video_decode_failed=True))
