import csv
import json
import os.path as osp
from collections import defaultdict

from mmdret.registry import DATASETS
from .base_retrieval_dataset import BaseRetrievalDataset


def read_csv_column(path, column):
    """Values of ``column`` in a csv with a header row; errors name file, line and form."""
    with open(path, newline='') as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(f'{path}:1: expected a header with a {column!r} column, got '
                             f'{reader.fieldnames}')
        values = []
        for row in reader:
            if not row.get(column):
                raise ValueError(f'{path}:{reader.line_num}: empty {column!r} value')
            values.append(row[column])
    return values


@DATASETS.register_module()
class MSRVTTRetrievalDataset(BaseRetrievalDataset):
    """MSR-VTT text-video retrieval in the official (CLIP4Clip/DiffusionRet) file formats.

    * Training (9k or 7k split): ``ann_file`` = ``MSRVTT_train.9k.csv`` (a ``video_id`` column);
      captions of those videos come from ``sentences_file`` = ``MSRVTT_data.json``
      (``{"sentences": [{"video_id", "caption"}, ...]}``).
    * Test (1k-A): ``ann_file`` = ``MSRVTT_JSFUSION_test.csv`` (``key,vid_key,video_id,sentence``),
      one caption per video. With ``full_test_captions=True`` every caption of the test videos in
      ``sentences_file`` is used instead (the multi-caption protocol).

    Args:
        ann_file (str): split file (csv) as above.
        sentences_file (str, optional): ``MSRVTT_data.json``; required for training and for
            ``full_test_captions``. Relative paths are joined with ``data_root``.
        full_test_captions (bool): see above. Defaults to False.
        **kwargs: see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, sentences_file=None, full_test_captions=False, **kwargs):
        self.sentences_file = sentences_file
        self.full_test_captions = full_test_captions
        super().__init__(ann_file=ann_file, **kwargs)

    def _sentences_path(self):
        if self.sentences_file is None:
            raise ValueError(f'{type(self).__name__}: sentences_file (MSRVTT_data.json) is '
                             f'required to read captions for {self.ann_file!r}')
        path = self.sentences_file
        if self.data_root and not osp.isabs(path):
            path = osp.join(self.data_root, path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{type(self).__name__}: sentences_file {path!r} does not '
                                    'exist')
        return path

    def _captions_by_video(self):
        path = self._sentences_path()
        with open(path) as file:
            data = json.load(file)
        if not isinstance(data, dict) or not isinstance(data.get('sentences'), list):
            raise ValueError(f"{path}: expected a JSON object with a 'sentences' list")
        captions = defaultdict(list)
        for i, sentence in enumerate(data['sentences']):
            if not isinstance(sentence, dict) or not {'video_id', 'caption'} <= set(sentence):
                raise ValueError(f"{path}: sentences[{i}] must have 'video_id' and 'caption', "
                                 f'got {sentence!r}')
            captions[sentence['video_id']].append(sentence['caption'])
        return captions

    def _test_rows(self):
        with open(self.ann_file, newline='') as file:
            reader = csv.DictReader(file)
            if reader.fieldnames is None or not {'video_id', 'sentence'} <= set(
                    reader.fieldnames):
                raise ValueError(f'{self.ann_file}:1: expected the JSFusion header '
                                 f'key,vid_key,video_id,sentence, got {reader.fieldnames}')
            rows = []
            for row in reader:
                if not row.get('video_id') or row.get('sentence') is None:
                    raise ValueError(f'{self.ann_file}:{reader.line_num}: expected '
                                     'key,vid_key,video_id,sentence')
                rows.append((row['video_id'], [row['sentence']]))
        return rows

    def load_video_captions(self):
        if self.test_mode and not self.full_test_captions:
            return self._test_rows()
        if self.test_mode:
            video_ids = [video_id for video_id, _ in self._test_rows()]
        else:
            video_ids = read_csv_column(self.ann_file, 'video_id')
        captions = self._captions_by_video()
        without = [video_id for video_id in video_ids if not captions.get(video_id)]
        if without:
            raise ValueError(f'{self._sentences_path()}: no captions for {len(without)} videos '
                             f'of {self.ann_file!r}, e.g. {without[:3]}')
        return [(video_id, captions[video_id]) for video_id in video_ids]
