from abc import ABCMeta, abstractmethod

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

MODALITIES = ('text', 'video')


def flat_meta(data_samples, key):
    """A metainfo field of every data sample as one LongTensor (list fields are flattened).

    Args:
        data_samples (list[BaseDataElement]): the batch's data samples.
        key (str): the metainfo field, e.g. ``'video_idx'`` or ``'text_idx'``.

    Returns:
        Tensor: the values of all samples in order, a list field contributing each element.
    """
    values = []
    for sample in data_samples:
        value = sample.metainfo[key]
        values.extend(value if isinstance(value, (list, tuple)) else [value])
    return torch.tensor(values, dtype=torch.long)


def captions_per_item(data_samples):
    """Number of captions each data sample carries (``len(text_idx)``; 1 without it).

    Args:
        data_samples (list[BaseDataElement]): the batch's data samples.

    Returns:
        Tensor: ``(B,)`` long caption counts.
    """
    counts = []
    for sample in data_samples:
        value = sample.metainfo.get('text_idx', 0)
        counts.append(len(value) if isinstance(value, (list, tuple)) else 1)
    return torch.tensor(counts, dtype=torch.long)


def text_indices(data_samples, num_texts):
    """Global text indices and the video index of each text of a batch.

    Without data samples (free text, e.g. a search query) texts are numbered ``0..N-1`` and
    belong to no video (``video_index`` is None).

    Args:
        data_samples (list[BaseDataElement], optional): the batch's data samples, with
            ``text_idx`` and ``video_idx`` metainfo where known.
        num_texts (int): the number of texts in the batch inputs.

    Returns:
        tuple[Tensor, Tensor | None]: ``(N,)`` global text indices (``0..N-1`` without
        ``text_idx``) and ``(N,)`` video index of each text, or None unless every sample has
        ``video_idx``.

    Raises:
        ValueError: if the data samples describe another number of captions than
            ``num_texts``.
    """
    if data_samples is None:
        return torch.arange(num_texts), None
    counts = captions_per_item(data_samples)
    if any('text_idx' in sample.metainfo for sample in data_samples):
        index = flat_meta(data_samples, 'text_idx')
    else:
        index = torch.arange(num_texts)
    video_index = (torch.repeat_interleave(flat_meta(data_samples, 'video_idx'), counts)
                   if all('video_idx' in sample.metainfo for sample in data_samples) else None)
    if index.numel() != num_texts:
        raise ValueError(f'the data samples describe {index.numel()} captions, the inputs hold '
                         f'{num_texts}')
    return index, video_index


def video_indices(data_samples, num_videos):
    """Global video indices of a batch and which videos failed to decode.

    Args:
        data_samples (list[BaseDataElement], optional): the batch's data samples, with
            ``video_idx`` and ``corrupt_video`` metainfo where known.
        num_videos (int): the number of videos in the batch inputs.

    Returns:
        tuple[Tensor, Tensor]: ``(N,)`` global video indices (``0..N-1`` unless every sample
        has ``video_idx``) and ``(N,)`` bool, True for a video that failed to decode.
    """
    if data_samples is None or not all('video_idx' in s.metainfo for s in data_samples):
        index = torch.arange(num_videos)
    else:
        index = flat_meta(data_samples, 'video_idx')
    corrupt = torch.zeros(num_videos, dtype=torch.bool)
    if data_samples is not None:
        corrupt = torch.tensor([bool(s.metainfo.get('corrupt_video')) for s in data_samples],
                               dtype=torch.bool)
    return index, corrupt


def masked_mean(features, mask):
    """Mean of (N, L, D) features over the valid positions of an (N, L) mask -> (N, D).

    Args:
        features (Tensor): ``(N, L, D)`` features.
        mask (Tensor): ``(N, L)`` mask, 1 valid / 0 padding.

    Returns:
        Tensor: ``(N, D)`` means; a row without valid positions gives 0.
    """
    mask = mask.to(features.dtype)[..., None]
    return (features * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class BaseRetriever(BaseModel, metaclass=ABCMeta):
    """The text-video retriever contract shared by DiffusionRet, X-Pool and DITS.

    Retrieval splits into *features*, computed once per item, and *scoring*, which compares a
    chunk of queries with all candidates of the other modality:

    * :meth:`extract_text_feat` / :meth:`extract_video_feat`: a dict of tensors whose first
      dim runs over the batch's texts / videos, with ``index`` (global item index) and, for
      texts of a dataset, ``video_index`` (the video each caption describes); videos also carry
      ``corrupt`` (decoding failed). Subclasses implement :meth:`text_features` and
      :meth:`video_features`; the indices come from the data samples' ``text_idx`` /
      ``video_idx`` metainfo, or ``0..N-1`` when there are none (free-text queries, a folder).
    * :meth:`score`: ``(Q, C)`` scores of queries against candidates, ``'t2v'`` or ``'v2t'``.
      Row ``q`` depends on query ``q`` and the candidates only, so scoring query chunks and
      concatenating equals scoring all queries at once (the retrieval loops rely on it).
    * :meth:`embed`: one L2-normalised vector per item, for a coarse shortlist (FAISS) and for
      metrics that compare single embeddings (mmaction2's ``RetrievalMetric``).
    * ``forward(mode=...)``: ``'loss'`` (training losses), ``'tensor'`` (:meth:`extract_feat`),
      ``'predict'`` (data samples carrying ``features=dict(text_feature, video_feature)`` from
      :meth:`embed`, one caption per video, as mmaction2's ``RetrievalMetric`` reads them).
    """

    @abstractmethod
    def text_features(self, inputs, index):
        """Per-text features of ``inputs`` (``text``/``text_mask`` or cached features).

        Args:
            inputs (dict): the batch as the data preprocessor returns it.
            index (Tensor): (Nt,) global text indices (seeds per-text noise where a model draws
                any at evaluation).
        """

    @abstractmethod
    def video_features(self, inputs, index):
        """Per-video features of ``inputs`` (``video``/``video_mask`` or cached features).

        Args:
            inputs (dict): the batch as the data preprocessor returns it.
            index (Tensor): (Nv,) global video indices.
        """

    @abstractmethod
    def score(self, direction, queries, candidates):
        """Scores (Q, C) of a chunk of queries against all candidates.

        Args:
            direction (str): ``'t2v'`` (queries are texts) or ``'v2t'``.
            queries (dict): features of the query chunk, as :meth:`extract_feat` gives them.
            candidates (dict): features of the candidates.
        """

    @abstractmethod
    def embed(self, modality, features):
        """(N, D) L2-normalised single-vector embedding of ``'text'`` or ``'video'`` features.

        Args:
            modality (str): ``'text'`` or ``'video'``.
            features (dict): features as :meth:`extract_feat` gives them.
        """

    #: True when both directions start from one stage-1 similarity with ``S_v2t = S_t2v^T``:
    #: then ``score(d, queries, candidates) == rescore(d, S, queries, candidates)`` with ``S``
    #: from :meth:`shared_similarity` oriented for ``d``, and the retrieval loops compute it
    #: once for both directions.
    shares_similarity = False

    def shared_similarity(self, texts, videos):
        """(A, B) stage-1 similarity serving both directions (only if ``shares_similarity``).

        Args:
            texts (dict): text features, as :meth:`extract_feat` gives them.
            videos (dict): video features.
        """
        raise NotImplementedError(f'{type(self).__name__} scores each direction separately')

    def rescore(self, direction, similarity, queries, candidates):
        """(Q, C) scores from the stage-1 ``similarity`` (Q, C) of ``direction`` (only if
        ``shares_similarity``).

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
            similarity (Tensor): (Q, C) stage-1 similarity of the queries to the candidates.
            queries (dict): features of the query chunk.
            candidates (dict): features of the candidates.
        """
        raise NotImplementedError(f'{type(self).__name__} scores each direction separately')

    @abstractmethod
    def loss(self, inputs, data_samples):
        """Training losses of a batch (dict of tensors).

        Args:
            inputs (dict): the batch as the data preprocessor returns it.
            data_samples (list[BaseDataElement]): the batch's data samples.

        Returns:
            dict[str, Tensor]: the loss terms.
        """

    @staticmethod
    def num_texts(inputs):
        return (inputs['text_tokens'] if 'text_tokens' in inputs else inputs['text']).shape[0]

    @staticmethod
    def num_videos(inputs):
        return (inputs['video_frames'] if 'video_frames' in inputs else inputs['video']).shape[0]

    def extract_text_feat(self, inputs, data_samples=None):
        """Per-text features of a batch, with ``index`` and (given data samples)
        ``video_index``.

        Args:
            inputs (dict): the batch, at least ``text`` and ``text_mask`` (or cached features).
            data_samples (list, optional): the batch's data samples. Defaults to None (texts
                numbered ``0..N-1``).
        """
        index, video_index = text_indices(data_samples, self.num_texts(inputs))
        features = self.text_features(inputs, index)
        features['index'] = index
        if video_index is not None:
            features['video_index'] = video_index
        return features

    def extract_video_feat(self, inputs, data_samples=None):
        """Per-video features of a batch, with ``index`` and ``corrupt``.

        Args:
            inputs (dict): the batch, at least ``video`` and ``video_mask`` (or cached
                features).
            data_samples (list, optional): the batch's data samples. Defaults to None (videos
                numbered ``0..N-1``).
        """
        index, corrupt = video_indices(data_samples, self.num_videos(inputs))
        features = self.video_features(inputs, index)
        features.update(index=index, corrupt=corrupt)
        return features

    def extract_feat(self, inputs, data_samples=None):
        """Per-text and per-video features of a batch: ``dict(text=..., video=...)``.

        Args:
            inputs (dict): the batch, with text and video inputs (or cached features).
            data_samples (list, optional): the batch's data samples. Defaults to None (items
                numbered ``0..N-1``).

        Returns:
            dict[str, dict]: :meth:`extract_text_feat` and :meth:`extract_video_feat` of the batch.
        """
        return dict(text=self.extract_text_feat(inputs, data_samples),
                    video=self.extract_video_feat(inputs, data_samples))

    def predict(self, inputs, data_samples):
        """Data samples carrying the single-vector embeddings of each item's first caption and
        its video (``features=dict(text_feature=..., video_feature=...)``), the form mmaction2's
        ``RetrievalMetric`` evaluates.

        Args:
            inputs (dict): the batch, with text and video inputs (or cached features).
            data_samples (list): the batch's data samples, one per video; a
                :class:`BaseDataElement` is updated in place, other samples are copied into one.

        Returns:
            list[BaseDataElement]: one sample per video, with ``features``.
        """
        features = self.extract_feat(inputs, data_samples)
        text = self.embed('text', features['text'])
        video = self.embed('video', features['video'])
        first = torch.cumsum(captions_per_item(data_samples), 0) - captions_per_item(data_samples)
        outputs = []
        for i, sample in enumerate(data_samples):
            output = sample if isinstance(sample, BaseDataElement) else BaseDataElement(
                metainfo=dict(sample.metainfo))
            output.features = dict(text_feature=text[first[i]], video_feature=video[i])
            outputs.append(output)
        return outputs

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"{type(self).__name__}.forward: mode must be 'loss', 'tensor' or "
                         f"'predict', got {mode!r}")

