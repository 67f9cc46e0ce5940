import os.path as osp

from mmengine.logging import print_log

from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, is_number, load_json, read_id_list, resolve_path
from .paragraph_dataset import ParagraphRetrievalDataset

ENTRY_FORM = ('{"description": str, "times": [[start_chunk, end_chunk], ...], "video": str} '
              '(5-second chunks)')
DATA_FORM = f'a JSON list of {ENTRY_FORM}'
# The official loaders decode [0, 31] s of every video: DiDeMo annotations cover the first 30 s
# (longer videos were truncated for annotation, LocalizingMoments README).
DIDEMO_SEGMENT = (0, 31)


@DATASETS.register_module()
class DiDeMoRetrievalDataset(ParagraphRetrievalDataset):
    """DiDeMo paragraph-to-video retrieval in the official (LocalizingMoments / CLIP4Clip) format.

    * ``ann_file``: ``{train,val,test}_data.json``, the official list of moment annotations
      ``{"description", "times", "video", ...}``; ``times`` holds each annotator's
      ``[start, end]`` 5-second chunk indices.
    * ``list_file`` (optional): ``{train,val,test}_list.txt``, the videos of the split, one file
      name per line, in that order (the official loader reads both). Without it every video of
      ``ann_file`` is used in order of first appearance. A listed video without descriptions is
      skipped with a warning, as the official loader skips it silently.
    * Text: one paragraph per video, ``" ".join(descriptions)`` in annotation order.
    * Videos: DiDeMo ids are file names with their own extension (``...d4a3b6c.mov``), used as
      they are with ``video_ext=''`` (default); a non-empty ``video_ext`` replaces that extension
      (for transcoded copies, e.g. ``'.mp4'``).
    * Data info: ``segment`` = (0, 31) s, the window the official loaders read for every video
      (:class:`LoadVideoFrames` samples only that window: seconds 0 to 31 inclusive, so a
      longer video is cut there as officially), and ``sentence_segments``, each description's
      moment in seconds as the official loader computes it before overriding it:
      (mean start chunk * 5, (mean end chunk + 1) * 5).

    The official setting is 64 words and 64 frames (``configs/_base_/datasets/didemo.py``).

    Args:
        ann_file (str): ``{split}_data.json``.
        list_file (str, optional): ``{split}_list.txt``; relative paths are joined with
            ``data_root``.
        video_ext (str): see above. Defaults to ``''``.
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, list_file=None, video_ext='', **kwargs):
        self.list_file = list_file
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def video_path(self, video_id):
        """The video file of ``video_id``.

        Args:
            video_id (str): the annotation's video id.
        """
        name = osp.splitext(video_id)[0] + self.video_ext if self.video_ext else video_id
        return osp.join(self.data_prefix['video'], name)

    def load_paragraphs(self):
        entries = load_json(self.ann_file, list, DATA_FORM)
        descriptions, moments = {}, {}
        for i, entry in enumerate(entries):
            if not (isinstance(entry, dict) and isinstance(entry.get('description'), str)
                    and isinstance(entry.get('video'), str) and entry['video']
                    and isinstance(entry.get('times'), list) and entry['times']
                    and all(isinstance(t, (list, tuple)) and len(t) == 2
                            and all(is_number(x) for x in t) for t in entry['times'])):
                raise AnnotationFormatError(self.ann_file, f'[{i}]', ENTRY_FORM, entry)
            video, times = entry['video'], entry['times']
            descriptions.setdefault(video, []).append(entry['description'])
            start = sum(t[0] for t in times) / len(times) * 5
            end = (sum(t[1] for t in times) / len(times) + 1) * 5
            moments.setdefault(video, []).append((start, end))

        if self.list_file is None:
            video_ids = list(descriptions)
        else:
            path = resolve_path(self.list_file, self.data_root, type(self).__name__,
                                'list_file ({split}_list.txt)')
            video_ids = [video for _, video in read_id_list(path, 'one DiDeMo video file name '
                                                                  'per line')]
            without = [video for video in video_ids if video not in descriptions]
            if without:
                print_log(f'{type(self).__name__}: {len(without)} videos of {path} have no '
                          f'description in {self.ann_file} and are skipped (as officially): '
                          f'{without[:5]}', logger='current', level=30)
                video_ids = [video for video in video_ids if video in descriptions]
        return [(video, ' '.join(descriptions[video]),
                 dict(segment=DIDEMO_SEGMENT, sentence_segments=moments[video]))
                for video in video_ids]
