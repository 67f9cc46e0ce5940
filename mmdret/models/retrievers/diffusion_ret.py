import torch
import torch.nn.functional as F

from mmdret.registry import MODELS
from mmdret.utils.distributed import all_gather_concat, gather_with_grad
from mmdret.utils.scope import in_mmdret_scope
from .base_retriever import BaseRetriever, flat_meta


def pooled_embedding(features, weights):
    """One vector per item, ``sum_i w_i x_i / |x_i|``: (N, L, D) token or frame features and
    their (N, L) WTI weights -> (N, D), L2-normalised.

    Before normalisation, the inner product of a text's and a video's pooled embedding is a
    weighted mean of their token-frame cosines, which never exceeds the weighted maxima the WTI
    similarity sums: a lower bound of the stage-1 similarity, computable with one matrix
    product (or an index).

    Args:
        features (Tensor): ``(N, L, D)`` token or frame features (unnormalised).
        weights (Tensor): ``(N, L)`` their WTI weights, zero on padding.

    Returns:
        Tensor: ``(N, D)`` float32 L2-normalised embeddings.
    """
    pooled = torch.einsum('nl,nld->nd', weights.float(), F.normalize(features.float(), dim=-1))
    return F.normalize(pooled, dim=-1)


@MODELS.register_module()
class DiffusionRet(BaseRetriever):
    """DiffusionRet (ICCV 2023): generative text-video retrieval on a discriminative encoder.

    Stage 1 (``reranker=None``): a CLIP text-frame encoder with token-wise similarity trained by
    symmetric InfoNCE. Stage 2 (``reranker=dict(type='DiffusionReranker', ...)``): the encoder,
    similarity head and logit scale are frozen and only the two denoisers train; scores are the
    stage-1 similarity with each query's top-k candidates re-scored from the generated
    distribution.

    Implements :class:`BaseRetriever`: text features are the prepared tokens (``tokens``,
    ``token_mask``, ``token_weights``) and the EOT feature ``eot``; video features the prepared
    frames (``frames``, ``frame_mask``, ``frame_weights``); :meth:`embed` is the WTI-weighted
    mean of normalised tokens / frames (:func:`pooled_embedding`).

    Args:
        encoder (dict): the text-frame encoder, e.g. ``CLIPTextFrameEncoder``.
        similarity_head (dict): the text-video similarity, ``WTISimilarityHead``.
        contrastive_loss (dict): stage-1 loss. Defaults to ``SymmetricInfoNCELoss``.
        reranker (dict, optional): the stage-2 generator (``DiffusionReranker``). Its presence
            makes this a stage-2 model. Defaults to None.
        data_preprocessor (dict): defaults to ``RetrievalDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    @in_mmdret_scope
    def __init__(self,
                 encoder,
                 similarity_head=dict(type='WTISimilarityHead'),
                 contrastive_loss=dict(type='SymmetricInfoNCELoss'),
                 reranker=None,
                 data_preprocessor=dict(type='RetrievalDataPreprocessor'),
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        self.similarity_head = MODELS.build(similarity_head)
        self.contrastive_loss = MODELS.build(contrastive_loss)
        self.reranker = MODELS.build(reranker) if reranker is not None else None
        if self.reranker is not None:
            # Stage 2 trains the denoisers only (official; full fine-tuning did much worse).
            self.encoder.requires_grad_(False)
            self.similarity_head.requires_grad_(False)

    @property
    def stage(self):
        return 'discrimination' if self.reranker is None else 'generation'

    # -- features ------------------------------------------------------------------------------
    def encode(self, inputs):
        """Token features (Nt, L, D), EOT features (Nt, D) and frame features (Nv, T, D).

        ``inputs`` holds either token ids and frames (``text``, ``text_mask``, ``video``,
        ``video_mask``), which run through the encoder, or stage-1 features cached by
        ``tools/extract_features.py`` (``text_tokens``, ``text_mask``, ``text_eot``,
        ``video_frames``, ``video_mask``, from ``CachedFeatureDataset``), which are returned as
        they are: stage 2 freezes the encoder, so both give the same features.

        Args:
            inputs (dict): the batch from the data preprocessor, as described above.

        Returns:
            tuple[Tensor, Tensor, Tensor]: token features ``(Nt, L, D)``, EOT features
            ``(Nt, D)`` and frame features ``(Nv, T, D)``.
        """
        return (*self.encode_text(inputs), self.encode_video(inputs))

    def encode_text(self, inputs):
        """Token features (Nt, L, D) and EOT features (Nt, D) of the batch's texts.

        Args:
            inputs (dict): the batch: ``text`` and ``text_mask`` (encoded), or cached
                ``text_tokens`` and ``text_eot`` (returned as they are).

        Returns:
            tuple[Tensor, Tensor]: token features ``(Nt, L, D)`` and EOT features ``(Nt, D)``.
        """
        if 'text_tokens' in inputs:
            return inputs['text_tokens'], inputs['text_eot']
        return self.encoder.encode_text(inputs['text'], inputs['text_mask'])

    def encode_video(self, inputs):
        """Frame features (Nv, T, D) of the batch's videos.

        Args:
            inputs (dict): the batch: ``video`` and ``video_mask`` (encoded), or cached
                ``video_frames`` (returned as they are).

        Returns:
            Tensor: frame features ``(Nv, T, D)``.
        """
        if 'video_frames' in inputs:
            return inputs['video_frames']
        return self.encoder.encode_video(inputs['video'], inputs['video_mask'])

    def text_features(self, inputs, index):
        tokens, eot = self.encode_text(inputs)
        text = self.similarity_head.prepare_text(tokens, inputs['text_mask'])
        text['eot'] = eot
        return text

    def video_features(self, inputs, index):
        return self.similarity_head.prepare_video(self.encode_video(inputs),
                                                  inputs['video_mask'])

    def embed(self, modality, features):
        if modality == 'text':
            return pooled_embedding(features['tokens'], features['token_weights'])
        return pooled_embedding(features['frames'], features['frame_weights'])

    def score(self, direction, queries, candidates):
        """:meth:`BaseRetriever.score` from the token-wise similarity of (text, video) pairs,
        re-ranked by the stage-2 re-ranker when there is one.

        Args:
            direction (str): ``'t2v'`` (text queries, video candidates) or ``'v2t'``.
            queries (dict): features of the query chunk, as :meth:`extract_feat` gives them.
            candidates (dict): features of all candidates.

        Returns:
            Tensor: ``(Q, C)`` scores.
        """
        if direction == 't2v':
            scores = self.similarity_head.similarity(queries, candidates)
        else:
            scores = self.similarity_head.similarity(candidates, queries).t()
        return self.rescore(direction, scores, queries, candidates)

    # The token-wise similarity is one function of (text, video) for both directions.
    shares_similarity = True

    def shared_similarity(self, texts, videos):
        return self.similarity_head.similarity(texts, videos)

    def rescore(self, direction, similarity, queries, candidates):
        """Stage 1: ``similarity`` itself; stage 2: its top-k re-ranked by the reranker.

        Args:
            direction (str): ``'t2v'`` (text queries, video candidates) or ``'v2t'``.
            similarity (Tensor): ``(Q, C)`` stage-1 similarity of the queries to the candidates.
            queries (dict): features of the query chunk (with ``index``).
            candidates (dict): features of all candidates.

        Returns:
            Tensor: ``(Q, C)`` scores.
        """
        if self.reranker is None:
            return similarity
        return self.reranker.rerank(direction, similarity, queries, candidates)

    # -- training ------------------------------------------------------------------------------
    def contrastive_similarity(self, inputs):
        tokens, eot, frames = self.encode(inputs)
        if tokens.shape[0] != frames.shape[0]:
            raise ValueError('training batches need exactly one caption per video item, got '
                             f'{tokens.shape[0]} captions for {frames.shape[0]} videos')
        tokens, text_mask, frames, video_mask, eot = (
            gather_with_grad(x) for x in
            (tokens, inputs['text_mask'], frames, inputs['video_mask'], eot))
        similarity = self.similarity_head(tokens, text_mask, frames, video_mask)
        return similarity, dict(tokens=tokens, text_mask=text_mask, frames=frames,
                                video_mask=video_mask, eot=eot)

    def loss(self, inputs, data_samples):
        if self.reranker is not None:
            return self.generation_loss(inputs, data_samples)
        similarity, _ = self.contrastive_similarity(inputs)
        logit_scale = self.encoder.logit_scale.exp()
        return dict(loss_contrastive=self.contrastive_loss(similarity, logit_scale),
                    logit_scale=logit_scale.detach())

    def generation_loss(self, inputs, data_samples):
        """Stage 2: generation losses on detached, globally gathered stage-1 features; each rank
        trains on its own queries against the global candidate pool.

        Args:
            inputs (dict): the training batch (one caption per video item).
            data_samples (list[BaseDataElement]): the batch's data samples, with ``video_idx``.

        Returns:
            dict[str, Tensor]: the generation losses of both directions and ``contrastive``, the
            stage-1 loss of the gathered batch (logged only).
        """
        with torch.no_grad():
            tokens, eot, frames = self.encode(inputs)
            local = dict(eot=eot, frames=frames, frame_mask=inputs['video_mask'],
                         tokens=tokens, token_mask=inputs['text_mask'],
                         video_index=flat_meta(data_samples, 'video_idx').to(eot.device))
            gathered = {}
            for key, value in local.items():
                gathered[key], query_slice = all_gather_concat(value)
            text = self.similarity_head.prepare_text(gathered['tokens'], gathered['token_mask'])
            video = self.similarity_head.prepare_video(gathered['frames'],
                                                       gathered['frame_mask'])
            similarity = self.similarity_head.similarity(text, video)
            contrastive = self.contrastive_loss(similarity, self.encoder.logit_scale.exp())
        text.update(eot=gathered['eot'], video_index=gathered['video_index'])
        video.update(index=gathered['video_index'])
        losses = self.reranker.loss_terms(similarity, text, video, query_slice)
        losses['contrastive'] = contrastive  # logged only: nothing behind it trains in stage 2
        return losses
