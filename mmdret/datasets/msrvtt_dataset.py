from collections import defaultdict

from mmdret.registry import DATASETS
from .annotation_io import (AnnotationFormatError, check_caption, load_json, read_csv_rows,
                            resolve_path)
from .base_retrieval_dataset import BaseRetrievalDataset

SENTENCES_FORM = '{"sentences": [{"video_id": str, "caption": str}, ...], ...}'
JSFUSION_FORM = 'the JSFusion header key,vid_key,video_id,sentence'


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
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, sentences_file=None, full_test_captions=False, **kwargs):
        self.sentences_file = sentences_file
        self.full_test_captions = full_test_captions
        super().__init__(ann_file=ann_file, **kwargs)

    def _sentences_path(self):
        return resolve_path(self.sentences_file, self.data_root, type(self).__name__,
                            'sentences_file (MSRVTT_data.json)')

    def _captions_by_video(self):
        path = self._sentences_path()
        sentences = load_json(path, dict, SENTENCES_FORM).get('sentences')
        if not isinstance(sentences, list):
            raise AnnotationFormatError(path, 'sentences', 'a list, form ' + SENTENCES_FORM,
                                        type(sentences).__name__)
        captions = defaultdict(list)
        for i, sentence in enumerate(sentences):
            if not isinstance(sentence, dict) or not {'video_id', 'caption'} <= set(sentence):
                raise AnnotationFormatError(path, f'sentences[{i}]',
                                            "an object with 'video_id' and 'caption'", sentence)
            captions[sentence['video_id']].append(
                check_caption(sentence['caption'], path, f'sentences[{i}].caption',
                              SENTENCES_FORM))
        return captions

    def _test_rows(self):
        rows, seen = [], {}
        for line_num, row in read_csv_rows(self.ann_file, ('video_id', 'sentence'),
                                           JSFUSION_FORM):
            video_id = row['video_id']
            if video_id in seen:  # the gallery would hold the video twice
                raise AnnotationFormatError(
                    self.ann_file, line_num, f'{JSFUSION_FORM}, each video_id once '
                    f'({video_id!r} is also on line {seen[video_id]})')
            seen[video_id] = line_num
            rows.append((video_id, [row['sentence']]))
        return rows

    def load_video_captions(self):
        if self.test_mode and not self.full_test_captions:
            return self._test_rows()
        if self.test_mode:
            video_ids = [video_id for video_id, _ in self._test_rows()]
        else:
            video_ids = [row['video_id'] for _, row in
                         read_csv_rows(self.ann_file, ('video_id', ), 'a header with video_id')]
        captions = self._captions_by_video()
        without = [video_id for video_id in video_ids if not captions.get(video_id)]
        if without:
            raise ValueError(f'{self._sentences_path()}: no captions for {len(without)} videos '
                             f'of {self.ann_file!r}, e.g. {without[:3]}')
        return [(video_id, captions[video_id]) for video_id in video_ids]
