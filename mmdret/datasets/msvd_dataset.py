from mmdret.registry import DATASETS
from .annotation_io import AnnotationFormatError, load_pickle, read_id_list, resolve_path
from .base_retrieval_dataset import BaseRetrievalDataset

CAPTIONS_FORM = '{video_id: [[token, ...], ...]} (a dict of tokenised captions)'


@DATASETS.register_module()
class MSVDRetrievalDataset(BaseRetrievalDataset):
    """MSVD (YouTube2Text) text-video retrieval in the CLIP4Clip/DiffusionRet file format.

    * ``ann_file``: the split list, ``train_list.txt`` (1,200 videos), ``val_list.txt`` (100) or
      ``test_list.txt`` (670), one video id per line (e.g. ``-4wsuPCjDBc_5_15``).
    * ``captions_file``: ``raw-captions.pkl``, a pickled dict ``{video_id: [[token, ...], ...]}``;
      each caption is its tokens joined by single spaces, as in the official loader.
    * videos: ``<video_id>.avi`` in ``data_prefix['video']`` (the official loader searches the
      folder recursively for ``<video_id>.*``; set ``video_ext`` for transcoded copies).

    Every caption is used, in training (one pair per caption by default) and at test time, where
    the test set is multi-caption (about 40 captions per video): each caption is a text query,
    and a video query ranks the videos, each by its best caption (the loops' default
    ``v2t_protocol='video_max'``). The official code crashes on this path; here it is the
    standard test mode of :class:`BaseRetrievalDataset`.

    Args:
        ann_file (str): the split list.
        captions_file (str): ``raw-captions.pkl``; relative paths are joined with ``data_root``.
            Defaults to ``'raw-captions.pkl'``.
        video_ext (str): Defaults to ``'.avi'``.
        **kwargs (dict): see :class:`BaseRetrievalDataset`.
    """

    def __init__(self, ann_file, captions_file='raw-captions.pkl', video_ext='.avi', **kwargs):
        self.captions_file = captions_file
        super().__init__(ann_file=ann_file, video_ext=video_ext, **kwargs)

    def load_video_captions(self):
        ids = read_id_list(self.ann_file, 'one MSVD video id per line')
        path = resolve_path(self.captions_file, self.data_root, type(self).__name__,
                            'captions_file (raw-captions.pkl)')
        captions = load_pickle(path, dict, CAPTIONS_FORM)
        videos = []
        for line_num, video_id in ids:
            if video_id not in captions:
                raise AnnotationFormatError(
                    path, f'[{video_id!r}]', f'captions for the video listed at '
                    f'{self.ann_file}:{line_num}; form {CAPTIONS_FORM}')
            texts = []
            for i, tokens in enumerate(captions[video_id]):
                if (not isinstance(tokens, (list, tuple)) or not tokens
                        or not all(isinstance(token, str) for token in tokens)):
                    raise AnnotationFormatError(path, f'[{video_id!r}][{i}]',
                                                'a non-empty list of token strings', tokens)
                texts.append(' '.join(tokens))
            if not texts:
                raise AnnotationFormatError(path, f'[{video_id!r}]',
                                            'at least one caption', captions[video_id])
            videos.append((video_id, texts))
        return videos
