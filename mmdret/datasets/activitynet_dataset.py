import math

from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, is_number, load_json, resolve_path
from .paragraph_dataset import ParagraphRetrievalDataset

ANNOTATION_FORM = ('{"v_<id>": {"duration": seconds, "timestamps": [[start, end], ...], '
                   '"sentences": [str, ...]}, ...} with one timestamp per sentence')
IDS_FORM = '["v_<id>", ...] (a JSON list of video keys)'


@DATASETS.register_module()
class ActivityNetRetrievalDataset(ParagraphRetrievalDataset):
    """ActivityNet Captions paragraph-to-video retrieval in the official (CLIP4Clip) format.

    * ``ann_file``: ``train.json`` (training) or ``val_1.json`` (test; the standard protocol
      tests on val_1), the official ActivityNet Captions annotations
      ``{"v_<id>": {"duration", "timestamps", "sentences"}}``.
    * ``ids_file`` (optional): ``train_ids.json`` / ``val_ids.json``, a JSON list of the
      ``v_<id>`` keys to use, in that order. Without it every key of ``ann_file`` is used.
    * Text: one paragraph per video, ``" ".join(sentences)`` exactly as the official loader
      (the sentences keep their own surrounding spaces).
    * Videos: ``<data_prefix.video>/v_<id><video_ext>`` (the official loader matches files whose
      name minus extension is ``v_<id>``).
    * Data info: ``segment`` = (0, ceil(duration)), the window the official loader reads (the
      whole video), and ``sentence_segments``, the (start, end) of each sentence.

    The official setting is 64 words and 64 frames (``configs/_base_/datasets/activitynet.py``).

    Args:
        ann_file (str): ``train.json`` or ``val_1.json``.
        ids_file (str, optional): ``train_ids.json`` or ``val_ids.json``; relative paths are
            joined with ``data_root``.
        video_ext (str): Defaults to ``'.mp4'``.
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, ids_file=None, video_ext='.mp4', **kwargs):
        self.ids_file = ids_file
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def _video_keys(self, annotations):
        if self.ids_file is None:
            return list(annotations)
        path = resolve_path(self.ids_file, self.data_root, type(self).__name__,
                            'ids_file (train_ids.json / val_ids.json)')
        keys = load_json(path, list, IDS_FORM)
        seen = set()
        for i, key in enumerate(keys):
            if not isinstance(key, str) or key in seen:
                raise AnnotationFormatError(path, f'[{i}]', f'a distinct video key; {IDS_FORM}',
                                            key)
            if key not in annotations:
                raise AnnotationFormatError(self.ann_file, f'[{key!r}]',
                                            f'an entry for the video listed at {path}: [{i}]')
            seen.add(key)
        return keys

    def load_paragraphs(self):
        annotations = load_json(self.ann_file, dict, ANNOTATION_FORM)
        videos = []
        for key in self._video_keys(annotations):
            entry = annotations[key]
            if not (isinstance(entry, dict) and is_number(entry.get('duration'))
                    and isinstance(entry.get('sentences'), list) and entry['sentences']
                    and all(isinstance(s, str) for s in entry['sentences'])
                    and isinstance(entry.get('timestamps'), list)
                    and len(entry['timestamps']) == len(entry['sentences'])
                    and all(isinstance(t, (list, tuple)) and len(t) == 2
                            and all(is_number(x) for x in t) for t in entry['timestamps'])):
                raise AnnotationFormatError(self.ann_file, f'[{key!r}]', ANNOTATION_FORM, entry)
            paragraph = ' '.join(entry['sentences'])
            if not paragraph.strip():
                raise AnnotationFormatError(self.ann_file, f'[{key!r}]',
                                            'non-empty sentences', entry['sentences'])
            extra = dict(segment=(0, int(math.ceil(float(entry['duration'])))),
                         sentence_segments=[tuple(t) for t in entry['timestamps']])
            videos.append((key, paragraph, extra))
        return videos
