from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, load_json, read_id_list, resolve_path
from .base_retrieval_dataset import BaseRetrievalDataset

VATEX_FORM = '[{"videoID": str, "enCap": [str, ...], "chCap": [...]}, ...]'


@DATASETS.register_module()
class VATEXRetrievalDataset(BaseRetrievalDataset):
    """VATEX (v1.0) text-video retrieval on the official English captions.

    * ``ann_file``: ``vatex_training_v1.0.json`` or ``vatex_validation_v1.0.json``, the official
      list ``[{"videoID": "<youtube id>_<start>_<end>", "enCap": [10 captions], "chCap": ...}]``.
    * ``split_file`` (optional): a list of ``videoID`` s, one per line, selecting and ordering the
      videos. DITS (and T-MASS) use the split of Chen et al. 2020 (HGR): 25,991 training videos
      from the official training set and 1,500 validation + 1,500 test videos drawn from the
      official validation set. Those id lists are not part of the official release: give the
      HGR test list as ``split_file`` with ``vatex_validation_v1.0.json``. Without a
      ``split_file`` every video of ``ann_file`` is used (e.g. all 3,000 official validation
      videos), which is a different test set.
    * Text: the 10 English captions (``caption_key``). Training uses each caption (or one at
      random with ``caption_sampling='random'``); the test set is multi-caption (every caption
      is a query; a video query ranks the videos, each by its best caption). This is our
      choice: no VATEX loader of the DITS code lineage exists.
    * Videos: ``<videoID><video_ext>`` in ``data_prefix['video']``.

    Args:
        ann_file (str): an official VATEX json.
        split_file (str, optional): see above; relative paths are joined with ``data_root``.
        caption_key (str): Defaults to ``'enCap'``.
        video_ext (str): Defaults to ``'.mp4'``.
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, split_file=None, caption_key='enCap', video_ext='.mp4',
                 **kwargs):
        self.split_file = split_file
        self.caption_key = caption_key
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def load_video_captions(self):
        entries = load_json(self.ann_file, list, VATEX_FORM)
        captions = {}
        for i, entry in enumerate(entries):
            texts = entry.get(self.caption_key) if isinstance(entry, dict) else None
            if not (isinstance(entry, dict) and isinstance(entry.get('videoID'), str)
                    and entry['videoID'] and isinstance(texts, list) and texts
                    and all(isinstance(text, str) and text.strip() for text in texts)):
                raise AnnotationFormatError(
                    self.ann_file, f'[{i}]', f'{{"videoID": str, "{self.caption_key}": '
                    '[non-empty str, ...]}', entry)
            if entry['videoID'] in captions:
                raise AnnotationFormatError(self.ann_file, f'[{i}]',
                                            f'each videoID once ({entry["videoID"]!r} repeats)')
            captions[entry['videoID']] = list(texts)
        if self.split_file is None:
            return list(captions.items())
        path = resolve_path(self.split_file, self.data_root, type(self).__name__,
                            'split_file (one videoID per line)')
        videos = []
        for line_num, video_id in read_id_list(path, 'one VATEX videoID per line'):
            if video_id not in captions:
                raise AnnotationFormatError(
                    path, line_num, f'a videoID present in {self.ann_file}', video_id)
            videos.append((video_id, captions[video_id]))
        return videos
