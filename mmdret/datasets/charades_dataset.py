from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, read_csv_rows
from .base_retrieval_dataset import BaseRetrievalDataset

CHARADES_FORM = ('the Charades_v1 header id,subject,scene,quality,relevance,verified,script,'
                 'objects,descriptions,actions,length')


@DATASETS.register_module()
class CharadesRetrievalDataset(BaseRetrievalDataset):
    """Charades text-video retrieval as used by DITS (the X-CoT/X-Pool-lineage loader).

    * ``ann_file``: ``Charades_v1_train.csv`` (7,985 videos) or ``Charades_v1_test.csv``
      (1,863 videos), the official comma-separated files with a header; only the ``id`` and
      ``script`` columns are read (``text_column``), so each video has exactly one text, its
      script. Rows with an empty ``id`` or ``script`` are errors naming the line.
    * Videos: ``<id><video_ext>`` in ``data_prefix['video']`` (the official ``Charades_v1_480``
      release is ``.mp4``).

    Args:
        ann_file (str): one of the files above.
        text_column (str): Defaults to ``'script'``.
        video_ext (str): Defaults to ``'.mp4'``.
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, text_column='script', video_ext='.mp4', **kwargs):
        self.text_column = text_column
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def load_video_captions(self):
        videos, seen = [], {}
        for line_num, row in read_csv_rows(self.ann_file, ('id', self.text_column),
                                           CHARADES_FORM):
            video_id = row['id'].strip()
            if video_id in seen:
                raise AnnotationFormatError(self.ann_file, line_num,
                                            f'each id once ({video_id!r} is also on line '
                                            f'{seen[video_id]})')
            seen[video_id] = line_num
            videos.append((video_id, [row[self.text_column].strip()]))
        return videos
