import torch
import torch.nn.functional as F

from mmdret.registry import MODELS
from mmdret.utils.distributed import gather_with_grad
from mmdret.utils.scope import in_mmdret_scope
from .base_retriever import BaseRetriever, masked_mean


@MODELS.register_module()
class XPool(BaseRetriever):
    """X-Pool (Gorti et al., CVPR 2022): text-conditioned pooling of CLIP frame embeddings.

    ``S[k, i] = cos(t_k, pool(t_k, frames_i))`` with ``t_k`` the CLIP EOT text embedding and
    ``pool`` :class:`XPoolFramePooling`; trained jointly (CLIP + pooling) with symmetric InfoNCE
    at the learnable CLIP temperature (exp, clamped ≤ 100). Training and evaluation use the same
    per-pair similarity, which depends on text k and video i only (the leak-free protocol
    of the official X-Pool evaluation, never T-MASS's ``sims[i, :, :, i]``, which lets the
    ground-truth video pool every text).

    Implements :class:`BaseRetriever`: per-text features ``emb`` (plus what
    :meth:`describe_text` adds), per-video features ``frames`` and ``frame_mask``;
    :meth:`embed` is the text embedding and the mean of the valid frames (the pooling needs a
    text, so a text-independent video vector is the unconditioned mean).

    Args:
        encoder (dict): a ``CLIPTextFrameEncoder``; only its CLIP is used (EOT text feature and
            per-frame CLS features), so build it with ``temporal_layers=0``.
        pooling (dict): the text-conditioned pooling. Defaults to ``XPoolFramePooling``.
        contrastive_loss (dict): Defaults to ``SymmetricInfoNCELoss``.
        max_logit_scale (float): clamp of the exponentiated logit scale (official: 100).
            Defaults to 100.
        pair_chunk_size (int): texts pooled at once in :meth:`similarity`; bounds the
            (chunk, Nv, D) pooled tensor at evaluation (X-Pool issue #14: MSVD OOM).
            Defaults to 64.
        data_preprocessor (dict): Defaults to ``RetrievalDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    @in_mmdret_scope
    def __init__(self,
                 encoder,
                 pooling=dict(type='XPoolFramePooling'),
                 contrastive_loss=dict(type='SymmetricInfoNCELoss'),
                 max_logit_scale=100.0,
                 pair_chunk_size=64,
                 data_preprocessor=dict(type='RetrievalDataPreprocessor'),
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        if getattr(self.encoder, 'temporal_transformer', None) is not None:
            # X-Pool has no temporal transformer: whatever the encoder carries for it is unused
            # and must not sit in the optimizer (nor trip DDP's unused-parameter check).
            self.encoder.temporal_transformer.requires_grad_(False)
            self.encoder.frame_position_embeddings.requires_grad_(False)
        self.pooling = MODELS.build(pooling)
        self.contrastive_loss = MODELS.build(contrastive_loss)
        self.max_logit_scale = max_logit_scale
        self.pair_chunk_size = pair_chunk_size

    # -- features ------------------------------------------------------------------------------
    def encode(self, inputs):
        """CLIP EOT text embeddings (Nt, D) and per-frame embeddings (Nv, T, D), unnormalised.

        Args:
            inputs (dict): the batch, with ``text``, ``text_mask`` and ``video`` (frames
                ``(Nv, T, 3, H, W)``).

        Returns:
            tuple[Tensor, Tensor]: float32 text embeddings ``(Nt, D)`` and frame embeddings
            ``(Nv, T, D)``.
        """
        _, text = self.encoder.encode_text(inputs['text'], inputs['text_mask'])
        frames = self.encoder.encode_frames(inputs['video'])
        return text.float(), frames

    def describe_text(self, text, text_index):
        """Per-text features from (Nt, D) embeddings; DITS adds the aligned embedding.

        Args:
            text (Tensor): ``(Nt, D)`` CLIP EOT text embeddings.
            text_index (Tensor, optional): ``(Nt,)`` global text indices (DITS seeds the texts'
                evaluation noise with them); None while training.

        Returns:
            dict[str, Tensor]: ``emb``, the embeddings as they are.
        """
        return dict(emb=text)

    def text_features(self, inputs, index):
        _, text = self.encoder.encode_text(inputs['text'], inputs['text_mask'])
        return self.describe_text(text.float(), index.to(text.device))

    def video_features(self, inputs, index):
        return dict(frames=self.encoder.encode_frames(inputs['video']),
                    frame_mask=inputs['video_mask'])

    def embed(self, modality, features):
        if modality == 'text':
            return F.normalize(features['emb'].float(), dim=-1)
        return F.normalize(masked_mean(features['frames'].float(), features['frame_mask']), dim=-1)

    # -- similarity ----------------------------------------------------------------------------
    def pair_similarity(self, text, pooled, text_slice, video):
        """(c, Nv) cosine of the text side against the pooled videos of a text chunk.

        Args:
            text (dict[str, Tensor]): the text features of all texts (``emb``).
            pooled (Tensor): ``(c, Nv, D)`` videos pooled by each text of the chunk.
            text_slice (slice): the chunk's rows among the texts.
            video (dict[str, Tensor]): the video features (unused here; DITS reads its noise).

        Returns:
            Tensor: ``(c, Nv)`` cosine similarity.
        """
        return torch.einsum('td,tvd->tv', F.normalize(text['emb'][text_slice], dim=-1),
                            F.normalize(pooled, dim=-1))

    def pooling_query(self, text):
        """(Nt, D) query of the text-conditioned pooling.

        Args:
            text (dict[str, Tensor]): the text features (``emb``).

        Returns:
            Tensor: ``(Nt, D)`` the pooling queries, ``text['emb']``.
        """
        return text['emb']

    def similarity(self, text, video):
        """(Nt, Nv) similarity; row k only ever sees text k, column i only video i.

        Texts are pooled ``pair_chunk_size`` at a time.

        Args:
            text (dict[str, Tensor]): the text features (``emb``, plus what :meth:`describe_text`
                adds).
            video (dict[str, Tensor]): the video features, ``frames`` ``(Nv, T, D)`` and
                optionally ``frame_mask`` ``(Nv, T)``.

        Returns:
            Tensor: ``(Nt, Nv)`` similarity.
        """
        device = video['frames'].device
        query = self.pooling_query(text)
        rows = []
        for start in range(0, query.shape[0], self.pair_chunk_size):
            part = slice(start, start + self.pair_chunk_size)
            pooled = self.pooling(query[part].to(device), video['frames'],
                                  video.get('frame_mask'))
            rows.append(self.pair_similarity(text, pooled, part, video))
        return torch.cat(rows)

    def score(self, direction, queries, candidates):
        """:meth:`BaseRetriever.score` from :meth:`similarity`, the per-pair similarity of
        (text, video).

        Args:
            direction (str): ``'t2v'`` (text queries, video candidates) or ``'v2t'``.
            queries (dict): features of the query chunk, as :meth:`extract_feat` gives them.
            candidates (dict): features of all candidates.

        Returns:
            Tensor: ``(Q, C)`` scores.
        """
        if direction == 't2v':
            return self.similarity(queries, candidates)
        return self.similarity(candidates, queries).t()

    # -- training ------------------------------------------------------------------------------
    def logit_scale(self):
        return self.encoder.logit_scale.exp().clamp(max=self.max_logit_scale)

    def training_features(self, inputs, data_samples):
        text, frames = self.encode(inputs)
        if text.shape[0] != frames.shape[0]:
            raise ValueError('training batches need exactly one caption per video item, got '
                             f'{text.shape[0]} captions for {frames.shape[0]} videos')
        text, frames, frame_mask = (gather_with_grad(x) for x in
                                    (text, frames, inputs['video_mask']))
        return dict(emb=text), dict(frames=frames, frame_mask=frame_mask)

    def loss(self, inputs, data_samples):
        text, video = self.training_features(inputs, data_samples)
        similarity = self.similarity(text, video)
        logit_scale = self.logit_scale()
        return dict(loss_contrastive=self.contrastive_loss(similarity, logit_scale),
                    logit_scale=logit_scale.detach())
