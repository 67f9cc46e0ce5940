from .base_retrieval_dataset import BaseRetrievalDataset


class ParagraphRetrievalDataset(BaseRetrievalDataset):
    """Base of the paragraph-to-video datasets (ActivityNet Captions, DiDeMo).

    Each video has one text, the paragraph of all its sentences, so training and testing both
    yield one item per video. Subclasses implement :meth:`load_paragraphs` returning
    ``[(video_id, paragraph, extra_info)]``; ``extra_info`` (a dict) is added to each item's data
    info. The subclasses record there ``segment`` = (start, end) seconds, the window the
    official loaders decode, and ``sentence_segments``, one (start, end) per sentence.
    :class:`LoadVideoFrames` samples only the frames of ``segment`` (clipped to the video's
    duration, with the official second-to-frame rules), so both datasets read the official
    window: the whole video for ActivityNet ([0, ceil(duration)]) and the first 31 s for DiDeMo.
    ``sentence_segments`` is information only (the official loaders use the whole paragraph).
    """

    def load_paragraphs(self):
        raise NotImplementedError

    def load_video_captions(self):
        self._extra_info = {}
        videos = []
        for video_id, paragraph, extra in self.load_paragraphs():
            self._extra_info[video_id] = extra
            videos.append((video_id, [paragraph]))
        return videos

    def load_data_list(self):
        data_list = super().load_data_list()
        for info in data_list:
            info.update(self._extra_info[info['video_id']])
        return data_list
