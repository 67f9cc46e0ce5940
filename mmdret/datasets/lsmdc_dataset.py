import os.path as osp

from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, read_tsv
from .base_retrieval_dataset import BaseRetrievalDataset

LSMDC_FORM = ('<CLIP_ID>\\t<START_ALIGNED>\\t<END_ALIGNED>\\t<START_EXTRACTED>\\t'
              '<END_EXTRACTED>\\t<SENTENCE>')
# Clips the official DiffusionRet loader (dataloader_lsmdc_retrieval.py) drops from every split.
LSMDC_SKIPPED_CLIPS = (
    '0017_Pianist_00.23.28.872-00.23.34.843',
    '0017_Pianist_00.30.36.767-00.30.38.009',
    '3064_SPARKLE_2012_01.41.07.000-01.41.11.793',
    '3087_WE_BOUGHT_A_ZOO_01.37.34.502-01.37.39.361',
    '3044_KNOCKED_UP_00.45.19.000-00.45.23.549',
    '3023_DISTRICT_9_01.12.44.778-01.12.48.729',
)
VIDEO_LAYOUTS = ('auto', 'movie', 'flat')


def lsmdc_movie(clip_id):
    """Movie folder of a clip id, e.g. ``'0001_American_Beauty'`` for
    ``'0001_American_Beauty_00.00.51.926-00.00.54.129'``.

    Args:
        clip_id (str): an LSMDC clip id ``<movie>_<start>-<end>``.
    """
    return clip_id.split('.')[0][:-3]


@DATASETS.register_module()
class LSMDCRetrievalDataset(BaseRetrievalDataset):
    """LSMDC (LSMDC16 challenge) text-video retrieval in the official file format.

    ``ann_file`` is one of the official tab-separated files without header, 6 fields per line
    ``<CLIP_ID> <START_ALIGNED> <END_ALIGNED> <START_EXTRACTED> <END_EXTRACTED> <SENTENCE>``:
    ``LSMDC16_annos_training.csv`` (train), ``LSMDC16_annos_val.csv`` (val) and
    ``LSMDC16_challenge_1000_publictect.csv`` (the 1000-clip public test, one sentence per clip).
    A clip id may repeat with several sentences; its sentences become that video's captions.
    The six clips the official DiffusionRet loader skips (:data:`LSMDC_SKIPPED_CLIPS`) are
    skipped here too (``skip_clips``). The timestamps are not used: the clips are pre-cut.

    Videos: the LSMDC release stores ``<movie>/<clip_id>.avi`` with
    ``movie = clip_id.split('.')[0][:-3]`` (the X-Pool/DITS path rule); the official
    DiffusionRet loader instead searches the whole video folder for ``<clip_id>.*``.
    ``video_layout='movie'`` uses the movie sub-folder, ``'flat'`` ``<clip_id><video_ext>`` directly
    in ``data_prefix['video']``, and ``'auto'`` (default) the movie sub-folder when that file
    exists and the flat path otherwise.

    Args:
        ann_file (str): one of the files above.
        video_layout (str): ``'auto'``, ``'movie'`` or ``'flat'``, see above.
        skip_clips (Sequence[str]): clip ids to drop. Defaults to :data:`LSMDC_SKIPPED_CLIPS`.
        video_ext (str): Defaults to ``'.avi'`` (the LSMDC release).
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, video_layout='auto', skip_clips=LSMDC_SKIPPED_CLIPS,
                 video_ext='.avi', **kwargs):
        if video_layout not in VIDEO_LAYOUTS:
            raise ValueError(f'video_layout must be one of {VIDEO_LAYOUTS}, got {video_layout!r}')
        self.video_layout = video_layout
        self.skip_clips = frozenset(skip_clips)
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def load_video_captions(self):
        captions = {}
        for line_num, fields in read_tsv(self.ann_file, 6, LSMDC_FORM):
            clip_id, sentence = fields[0], fields[-1]
            if not clip_id or not sentence:
                raise AnnotationFormatError(self.ann_file, line_num,
                                            f'a clip id and a sentence in {LSMDC_FORM}',
                                            '\t'.join(fields))
            if clip_id not in self.skip_clips:
                captions.setdefault(clip_id, []).append(sentence)
        return list(captions.items())

    def video_path(self, video_id):
        """The video file of ``video_id``.

        Args:
            video_id (str): the clip id.
        """
        root = self.data_prefix['video']
        flat = osp.join(root, video_id + self.video_ext)
        nested = osp.join(root, lsmdc_movie(video_id), video_id + self.video_ext)
        if self.video_layout == 'flat':
            return flat
        if self.video_layout == 'movie':
            return nested
        return nested if osp.isfile(nested) else flat
