import torch
from mmengine.model import BaseModel

from mmdret.registry import MODELS
from mmdret.utils.scope import in_mmdret_scope
from mmdret.utils.distributed import all_gather_concat, gather_with_grad


def flat_meta(data_samples, key):
    values = []
    for sample in data_samples:
        value = sample.metainfo[key]
        values.extend(value if isinstance(value, (list, tuple)) else [value])
    return torch.tensor(values, dtype=torch.long)


@MODELS.register_module()
class DiffusionRet(BaseModel):
    """DiffusionRet (ICCV 2023): generative text-video retrieval on a discriminative encoder.

    Stage 1 (``reranker=None``): a CLIP text-frame encoder with token-wise similarity trained by
    symmetric InfoNCE. Stage 2 (``reranker=dict(type='DiffusionReranker', ...)``): the encoder,
    similarity head and logit scale are frozen and only the two denoisers train; scores are the
    stage-1 similarity with each query's top-k candidates re-scored from the generated
    distribution.

    Retrieval interface used by :class:`mmdret.engine.RetrievalTestLoop` and the inferencer:
    :meth:`extract_feat` turns a batch into per-text and per-video features, :meth:`score`
    scores a chunk of queries against all candidates of the other modality.

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
        """
        if 'video_frames' in inputs:
            return inputs['text_tokens'], inputs['text_eot'], inputs['video_frames']
        tokens, eot = self.encoder.encode_text(inputs['text'], inputs['text_mask'])
        frames = self.encoder.encode_video(inputs['video'], inputs['video_mask'])
        return tokens, eot, frames

    def extract_feat(self, inputs, data_samples):
        """Per-text and per-video features of a batch, with their global indices."""
        tokens, eot, frames = self.encode(inputs)
        counts = [len(sample.metainfo['text_idx']) for sample in data_samples]
        text = self.similarity_head.prepare_text(tokens, inputs['text_mask'])
        text.update(eot=eot, index=flat_meta(data_samples, 'text_idx'),
                    video_index=torch.repeat_interleave(flat_meta(data_samples, 'video_idx'),
                                                        torch.tensor(counts)))
        video = self.similarity_head.prepare_video(frames, inputs['video_mask'])
        video.update(index=flat_meta(data_samples, 'video_idx'),
                     corrupt=torch.tensor([bool(s.metainfo.get('corrupt_video'))
                                           for s in data_samples]))
        return dict(text=text, video=video)

    def score(self, direction, queries, candidates):
        """Scores (Q, C) of a chunk of queries against all candidates.

        Args:
            direction (str): ``'t2v'`` (queries are texts) or ``'v2t'``.
            queries (dict): features of the query chunk, as from :meth:`extract_feat`.
            candidates (dict): features of every candidate.
        """
        if direction == 't2v':
            scores = self.similarity_head.similarity(queries, candidates)
        else:
            scores = self.similarity_head.similarity(candidates, queries).t()
        if self.reranker is None:
            return scores
        return self.reranker.rerank(direction, scores, queries, candidates)

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
        trains on its own queries against the global candidate pool."""
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

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        raise ValueError(f"{type(self).__name__} supports mode 'loss' and 'tensor'; evaluate "
                         "with RetrievalValLoop / RetrievalTestLoop (val_cfg / test_cfg), which "
                         "score each rank's queries against all candidates")

