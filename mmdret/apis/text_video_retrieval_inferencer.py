"""Search your own videos by a sentence, with any mmdret retriever (DiffusionRet stage 1 or 2,
X-Pool, DITS, the zero-shot CLIP configs).

An mmengine ``BaseInferencer`` shaped after mmpretrain's ``TextToImageRetrievalInferencer``: the
gallery ("prototype") is decoded with the config's test pipeline and encoded once through the
retriever contract (``extract_video_feat``), cached (:class:`VideoGalleryIndex`) and reused;
queries are encoded with ``extract_text_feat`` and scored with ``score``::

    inferencer = TextVideoRetrievalInferencer(
        'diffusionret_stage2_tiny_1xb64-demo', weights='epoch_5.pth',
        prototype='my_videos/', prototype_cache='my_videos.gallery.pth')
    inferencer('a red ball rolls to the left', topk=5, show_dir='sheets/')
    # [[{'video': '/abs/my_videos/clip3.mp4', 'score': 0.71, 'rank': 1}, ...]]
"""
import glob
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
import warnings

import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.logging import MMLogger, print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmengine.structures import BaseDataElement

from mmdret.models.retrievers.base_retriever import BaseRetriever
from mmdret.registry import DATASETS, INFERENCERS, MODELS
from mmdret.utils.feature_cache import plain_config, state_dict_sha1
from mmdret.utils.finite import assert_finite_state_dict
from mmdret.utils.safe_load import checkpoint_safe_globals, naming_refused_file
from mmdret.visualization.search_results import capture_native_stderr
from .video_gallery_index import (VIDEO_EXTENSIONS, VideoGalleryIndex, list_videos, stable_id,
                                  stable_video_id)

DUMMY_CAPTION = 'a video'
COARSE_SCORES = ('score', 'embedding')
COARSE_BACKENDS = ('auto', 'torch', 'faiss')
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
# Per-item bookkeeping of extract_*_feat, rebuilt from the gallery paths (not cached).
BOOKKEEPING_KEYS = ('index', 'corrupt', 'video_index')


def faiss_available():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_model_config(model):
    """A :class:`Config` from a config file, a config name under ``configs/`` (the file name
    without ``.py``, e.g. ``'xpool_tiny_1xb64-demo'``), a Config or a dict.

    Args:
        model (str | os.PathLike | Config | dict): a config file, the name of exactly one
            config under ``configs/`` (``_base_`` configs excluded; a trailing ``.py`` is
            allowed), a :class:`Config` (returned as is) or a dict / :class:`ConfigDict`.

    Returns:
        Config: the model's config.

    Raises:
        TypeError: if ``model`` is none of the accepted types.
        FileNotFoundError: if ``model`` is no file and names no config, or several.
    """
    if isinstance(model, Config):
        return model
    if isinstance(model, dict):  # also ConfigDict
        return Config(model.to_dict() if isinstance(model, ConfigDict) else dict(model))
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f'model must be a config file, a config name or a Config, got '
                        f'{type(model).__name__}')
    model = str(model)
    if osp.isfile(model):
        return Config.fromfile(model)
    name = osp.basename(model)[:-3] if model.endswith('.py') else model
    found = sorted(glob.glob(osp.join(CONFIG_ROOT, '**', f'{name}.py'), recursive=True))
    found = [path for path in found if f'{os.sep}_base_{os.sep}' not in path]
    if len(found) != 1:
        raise FileNotFoundError(
            f'model {model!r} is neither a config file nor the name of one config under '
            f'{CONFIG_ROOT} ({"several match: " + ", ".join(found) if found else "none match"})'
            "; expected e.g. 'configs/dits/xpool_tiny_1xb64-demo.py' or "
            "'xpool_tiny_1xb64-demo'")
    return Config.fromfile(found[0])


def test_pipeline_config(cfg):
    """The video pipeline of a config: the test dataset's pipeline when it decodes videos
    (``LoadVideoFrames``), else ``test_pipeline`` (e.g. a stage-2 config evaluated on cached
    features).

    Args:
        cfg (Config): the model's full config.

    Returns:
        list[dict]: the pipeline's transform configs.

    Raises:
        ValueError: if neither pipeline holds a ``LoadVideoFrames`` step.
    """
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    for pipeline in (dataset.get('pipeline'), cfg.get('test_pipeline')):
        if pipeline and any(str(step.get('type', '')).endswith('LoadVideoFrames')
                            for step in pipeline):
            return list(pipeline)
    raise ValueError('the config names no video pipeline (a test_dataloader.dataset.pipeline '
                     'or test_pipeline with LoadVideoFrames)')


def fill_frames(inputs):
    """Resample a video shorter than the model's frame count to the full count, repeating
    frames in order (frame ``floor(i * n / T)`` at position ``i``), so no frame is padding.

    A padded frame is a zero vector to the similarity: with the official token-wise
    similarity a word whose real frame cosines are all negative takes 0 from it, so a short
    video would outrank longer ones merely because it is short. Repetition makes a short video
    look like a longer one sampled at a lower frame rate.

    Args:
        inputs (dict): the packed ``inputs`` of one pipeline item, with ``video`` (frames
            first, ``(T, ...)``) and its ``video_mask`` ``(T,)`` (1 for a real frame). Updated
            in place; a video with no real frame or no padding is left unchanged.

    Returns:
        dict: ``inputs``.
    """
    mask = inputs['video_mask']
    count, total = int(mask.sum()), mask.shape[0]
    if 0 < count < total:
        order = torch.arange(total) * count // total
        inputs['video'] = inputs['video'][order]
        inputs['video_mask'] = torch.ones_like(mask)
    return inputs


def select_rows(features, index):
    """Rows ``index`` (a LongTensor or slice) of every tensor of a feature dict.

    Args:
        features (dict[str, Tensor]): feature tensors sharing their first dimension.
        index (Tensor | slice): the rows to take.

    Returns:
        dict[str, Tensor]: ``features`` with each tensor indexed by ``index``.
    """
    return {key: value[index] for key, value in features.items()}


def to_device(features, device):
    """Move every tensor of a feature dict to a device.

    Args:
        features (dict[str, Tensor]): feature tensors.
        device (str | torch.device): the target device.

    Returns:
        dict[str, Tensor]: a new dict of the moved tensors.
    """
    return {key: value.to(device) for key, value in features.items()}


def query_samples(sentences):
    """Data samples numbering each sentence by :func:`stable_id` of its text, so a query's
    scores (and any noise a model draws for it) do not depend on the other queries.

    Args:
        sentences (list[str]): the query sentences.

    Returns:
        list[BaseDataElement]: one sample per sentence, with metainfo ``text_idx``.
    """
    return [BaseDataElement(metainfo=dict(text_idx=[stable_id(sentence)]))
            for sentence in sentences]


@INFERENCERS.register_module()
class TextVideoRetrievalInferencer(BaseInferencer):
    """Text-to-video (and video-to-text) search over a folder of videos, with a cached gallery.

    The model is any :class:`BaseRetriever`; the inferencer uses only its contract
    (``extract_text_feat``, ``extract_video_feat``, ``score``, ``embed``), so every mmdret
    retriever searches. The gallery is decoded with the config's test pipeline, encoded in
    batches of ``gallery_batch_size`` with a progress bar, and cached in ``prototype_cache``
    (:class:`VideoGalleryIndex`: fingerprinted by the model's config and weights and by each
    file's size and mtime, incremental, a safe tensors-plus-JSON format). Videos that cannot be
    decoded are skipped, listed in :attr:`failed_videos` and named in a warning together with
    what the native decoder printed. Under ``torchrun`` each process encodes a share of the
    files into one merged gallery.

    A video with fewer frames than the pipeline's ``max_frames`` is resampled with repetition
    to the full count (:func:`fill_frames`), so that padding never scores.

    Scoring: with ``shortlist=None`` every query is scored against the whole gallery with
    ``model.score``. With ``shortlist=S`` each query first takes its top-``S`` videos by a
    coarse score and only these go through ``model.score`` (one call over the union of the
    queries' shortlists). The coarse score is ``'score'``: ``model.score`` over the gallery in
    chunks of ``coarse_chunk_size`` videos (exact for models whose score of a pair depends on
    that pair only: DiffusionRet stage 1, X-Pool, DITS), or ``'embedding'``: the inner product
    of ``model.embed`` vectors, searched in chunks by torch or by an exact FAISS inner-product
    index (``pip install mmdret[faiss]``) saved next to the gallery cache. No query x gallery
    matrix is formed by a shortlisted search (memory bounded).

    Attributes set by :meth:`prepare_prototype`: ``gallery_paths``, ``failed_videos`` (dict
    path -> reason), ``num_encoded``, ``num_reused``, ``num_dropped``, ``rebuild_reason``.

    Args:
        model (str | Config | dict): config file, config name under ``configs/``
            (``'dits_tiny_1xb64-demo'``) or config.
        weights (str, optional): checkpoint file. Defaults to None (the config's own weights:
            random, or a pretrained CLIP for the zero-shot configs).
        prototype (str | list[str] | dict, optional): the gallery: a video folder (searched
            recursively), a list of video files, or a dataset config. Defaults to None (call
            :meth:`prepare_prototype` later).
        prototype_cache (str, optional): gallery cache file. Defaults to None (no cache).
        device (str, optional): torch device; None: CUDA when available, else CPU.
        scope (str): registry scope. Defaults to ``'mmdret'``.
        show_progress (bool): progress bars. Defaults to True.
        gallery_batch_size (int): videos encoded at once. Defaults to 8.
        shortlist (int, optional): default coarse shortlist size. Defaults to None.
        flush_interval (int): encoded videos between cache writes. Defaults to 64.
        coarse_chunk_size (int): gallery videos scored at once by the torch coarse search.
            Defaults to 4096.
        coarse_score (str): ``'score'`` or ``'embedding'`` (see above). Defaults to
            ``'score'``.
        coarse_backend (str): search of the ``'embedding'`` coarse score: ``'torch'``,
            ``'faiss'`` or ``'auto'`` (FAISS when installed). Defaults to ``'auto'``.
    """

    preprocess_kwargs = set()
    forward_kwargs = {'topk', 'shortlist'}
    visualize_kwargs = {'show_dir', 'html_file', 'show_frames'}
    postprocess_kwargs = set()

    def __init__(self,
                 model,
                 weights=None,
                 prototype=None,
                 prototype_cache=None,
                 device=None,
                 scope='mmdret',
                 show_progress=True,
                 gallery_batch_size=8,
                 shortlist=None,
                 flush_interval=64,
                 coarse_chunk_size=4096,
                 coarse_score='score',
                 coarse_backend='auto'):
        self.coarse_score, self.coarse_backend = self._check_coarse(coarse_score, coarse_backend)
        cfg = resolve_model_config(model)
        init_default_scope(scope)
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint {weights!r} does not exist')
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.device = torch.device(device)
        self.weights = weights
        super().__init__(cfg, weights, str(self.device), scope, show_progress)
        self.gallery_batch_size = gallery_batch_size
        self.shortlist = shortlist
        self.flush_interval = flush_interval
        self.coarse_chunk_size = coarse_chunk_size
        self.model_fingerprint = self._model_fingerprint()
        self._aliases = None
        self.gallery_paths, self.gallery = [], None
        self.gallery_index = None
        self._embedding = self._faiss = None
        self.failed_videos = {}
        self.num_encoded = self.num_reused = self.num_dropped = 0
        self.rebuild_reason = None
        if prototype is not None:
            self.prepare_prototype(prototype, prototype_cache)

    # -- set-up ------------------------------------------------------------------------------
    @staticmethod
    def _check_coarse(score, backend):
        """Validated ``(coarse_score, coarse_backend)``, ``'auto'`` resolved."""
        if score not in COARSE_SCORES:
            raise ValueError(f'coarse_score must be one of {COARSE_SCORES}, got {score!r}')
        if backend not in COARSE_BACKENDS:
            raise ValueError(f'coarse_backend must be one of {COARSE_BACKENDS}, got {backend!r}')
        if backend == 'auto':
            return score, 'faiss' if score == 'embedding' and faiss_available() else 'torch'
        if backend == 'faiss':
            if score != 'embedding':
                raise ValueError("coarse_backend='faiss' searches embeddings: it needs "
                                 "coarse_score='embedding'")
            if not faiss_available():
                raise ImportError("coarse_backend='faiss' needs faiss: pip install "
                                  'mmdret[faiss] (or faiss-cpu / faiss-gpu)')
        return score, backend

    def _init_model(self, cfg, weights, device='cpu'):
        """Build the retriever; load ``weights`` (refusing non-finite ones) or, without
        weights, run the config's initialisation as the Runner does."""
        model = MODELS.build(cfg.model)
        if not isinstance(model, BaseRetriever):
            raise TypeError(f'model.type={cfg.model.get("type")!r} is not an mmdret retriever '
                            '(BaseRetriever): the inferencer needs extract_text_feat, '
                            'extract_video_feat, score and embed')
        if weights is not None:
            # Runner checkpoints hold mmengine state: admit exactly its classes, name the file.
            with naming_refused_file(weights), checkpoint_safe_globals():
                checkpoint = _load_checkpoint(weights, map_location='cpu')
            state_dict = checkpoint.get('state_dict', checkpoint)
            assert_finite_state_dict(state_dict, weights)
            try:
                _load_checkpoint_to_model(model, checkpoint, strict=True)
            except RuntimeError as error:
                raise RuntimeError(f'{weights}: the checkpoint does not fit the config\'s model '
                                   f'({cfg.model.get("type")}): {error}') from error
        else:
            logger = MMLogger.get_current_instance()
            level = logger.level
            logger.setLevel(logging.WARNING)  # init_weights lists every parameter at INFO
            try:
                model.init_weights()
            finally:
                logger.setLevel(level)
        model.cfg = cfg
        return model.to(device).eval()

    def _init_pipeline(self, cfg):
        self.pipeline_cfg = test_pipeline_config(cfg)
        self.max_words, self.tokenizer = 32, 'ViT-B-32'
        for step in self.pipeline_cfg:
            if str(step.get('type', '')).rsplit('.', 1)[-1] == 'TokenizeCaptions':
                self.max_words = step.get('max_words', self.max_words)
                self.tokenizer = step.get('tokenizer', self.tokenizer)
        return Compose([dict(step) for step in self.pipeline_cfg])

    def _init_collate(self, cfg):
        # Items are grouped per batch by the gallery index, then joined by the preprocessor.
        return pseudo_collate

    def _init_visualizer(self, cfg):
        return None  # pictures come from mmdret.visualization.search_results

    def _model_fingerprint(self):
        """SHA-1 over the model config, the video pipeline and the weights."""
        config = dict(model=plain_config(self.cfg.model), pipeline=plain_config(self.pipeline_cfg))
        digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=repr).encode())
        digest.update(state_dict_sha1(self.model).encode())
        return digest.hexdigest()

    @staticmethod
    def resolve_prototype(prototype):
        """Absolute video paths of a folder, a list of files or a dataset config.

        Args:
            prototype (str | os.PathLike | list[str] | dict): a video folder (searched
                recursively), one video file, a list of video files, or a dataset config whose
                items' ``filename`` are the videos (its pipeline defaults to none).

        Returns:
            list[str]: the absolute paths, duplicates removed, in their first order.

        Raises:
            ValueError: if the prototype holds no videos or names videos that do not exist.
        """
        if isinstance(prototype, (str, os.PathLike)):
            prototype = str(prototype)
            if osp.isdir(prototype):
                paths = list_videos(prototype)
                if not paths:
                    raise ValueError(f'no video files ({", ".join(VIDEO_EXTENSIONS)}) found in '
                                     f'{prototype!r}')
                return paths
            if osp.isfile(prototype):
                return [osp.abspath(prototype)]
            raise ValueError(f'prototype {prototype!r} is neither a folder nor a file')
        if isinstance(prototype, dict):
            dataset_cfg = dict(prototype)
            dataset_cfg.setdefault('pipeline', [])
            dataset = DATASETS.build(dataset_cfg)
            paths = [dataset.get_data_info(i)['filename'] for i in range(len(dataset))]
        else:
            paths = [str(path) for path in prototype]
        paths = list(dict.fromkeys(osp.abspath(path) for path in paths))
        if not paths:
            raise ValueError('the prototype holds no videos')
        missing = [path for path in paths if not osp.isfile(path)]
        if missing:
            raise ValueError(f'{len(missing)} prototype videos do not exist, e.g. {missing[0]!r}')
        return paths

    # -- gallery -----------------------------------------------------------------------------
    def prepare_prototype(self, prototype, prototype_cache=None):
        """Build (or load) the gallery features; see :class:`VideoGalleryIndex`.

        Videos that cannot be decoded are left out, listed in :attr:`failed_videos` and named in a
        warning.

        Args:
            prototype (str | list[str] | dict): the gallery, as taken by
                :meth:`resolve_prototype`.
            prototype_cache (str, optional): the gallery cache file, reused and updated when it
                exists. Defaults to None (no cache).

        Returns:
            dict[str, Tensor]: the gallery features (see :meth:`set_gallery`).

        Raises:
            ValueError: if none of the videos can be decoded.
        """
        paths = self.resolve_prototype(prototype)
        index = VideoGalleryIndex(self.model_fingerprint, prototype_cache, self.flush_interval)
        features = index.update(paths, self._encode_videos, self.gallery_batch_size,
                                self.show_progress)
        self.gallery_index = index
        self.num_encoded, self.num_reused = index.num_encoded, index.num_reused
        self.num_dropped, self.rebuild_reason = index.num_dropped, index.rebuild_reason
        self.failed_videos = index.failed_reasons(paths)
        if self.failed_videos:
            details = '; '.join(f'{path}: {reason}' for path, reason in
                                self.failed_videos.items())
            message = (f'{len(self.failed_videos)} of {len(paths)} videos could not be decoded '
                       f'and are left out of the gallery: {details}')
            print_log(message, logger='current', level=30)
            warnings.warn(message, stacklevel=2)
        if not index.paths:
            raise ValueError(f'none of the {len(paths)} prototype videos could be decoded')
        return self.set_gallery(index.paths, features)

    def set_gallery(self, paths, features):
        """Use precomputed gallery features: ``features`` maps each key of the model's video
        features to an (N, ...) tensor, row i for ``paths[i]``; kept on the CPU (memory-mapped
        when they come from a cache) and moved to the device chunk by chunk.

        Args:
            paths (list[str]): the N gallery videos.
            features (dict[str, Tensor]): the video features, one row per path.

        Returns:
            dict[str, Tensor]: the gallery features, with ``index`` (the videos'
            :func:`stable_video_id`) and ``corrupt`` (all False) added.

        Raises:
            ValueError: if a feature tensor does not have one row per path.
        """
        if any(value.shape[0] != len(paths) for value in features.values()):
            raise ValueError(f'features must have one row per path ({len(paths)})')
        self.gallery_paths = list(paths)
        self.gallery = dict(features)
        self.gallery['index'] = torch.tensor([stable_video_id(p) for p in paths],
                                             dtype=torch.long)
        self.gallery['corrupt'] = torch.zeros(len(paths), dtype=torch.bool)
        self._embedding = self._faiss = None
        return self.gallery

    def _decodable(self, path):
        """``path``, or a symlink to it with an ASCII name when the name is not valid UTF-8
        (decoders take UTF-8 file names only)."""
        try:
            path.encode('utf-8')
            return path
        except UnicodeEncodeError:
            pass
        if self._aliases is None:
            self._aliases = tempfile.mkdtemp(prefix='mmdret-names-')
        alias = osp.join(self._aliases, f'{stable_video_id(path)}{osp.splitext(path)[1]}'
                         .encode('ascii', 'replace').decode())
        if not osp.lexists(alias):
            os.symlink(os.fsencode(path), os.fsencode(alias))
        return alias

    def _pipeline_item(self, path):
        """The packed test-pipeline item of one video; raises with the decoder's own messages
        (captured from the native stderr) when it cannot be decoded."""
        try:
            with capture_native_stderr() as noise:
                item = self.pipeline(dict(filename=self._decodable(path),
                                          video_id=osp.basename(path),
                                          video_idx=stable_video_id(path), text_idx=[0],
                                          texts=[DUMMY_CAPTION]))
        except Exception as error:  # VideoDecodeError, or a transform failing on it
            native = ' '.join(noise.text.split())[:300]
            raise ValueError(f'{type(error).__name__}: {error}' +
                             (f' (decoder: {native})' if native else '')) from error
        fill_frames(item['inputs'])
        return item

    @torch.no_grad()
    def _encode_videos(self, paths):
        """Decode and encode videos: ``({path: {key: CPU tensor}}, {path: error message})``."""
        items, good, errors = [], [], {}
        for path in paths:
            try:
                items.append(self._pipeline_item(path))
                good.append(path)
            except ValueError as error:
                errors[path] = str(error)
        if not items:
            return {}, errors
        data = self.model.data_preprocessor(pseudo_collate(items), False)
        video = self.model.extract_video_feat(data['inputs'], data['data_samples'])
        encoded = {path: {key: value[i].detach().cpu() for key, value in video.items()
                          if key not in BOOKKEEPING_KEYS}
                   for i, path in enumerate(good)}
        return encoded, errors

    def __del__(self):
        if getattr(self, '_aliases', None):
            shutil.rmtree(self._aliases, ignore_errors=True)

    # -- queries -----------------------------------------------------------------------------
    @staticmethod
    def _check_sentences(sentences, what):
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        if not sentences:
            raise ValueError(f'{what}: got an empty list')
        for sentence in sentences:
            if not isinstance(sentence, str) or not sentence.strip():
                raise ValueError(f'{what} must be non-empty strings, got {sentence!r}')
        return sentences

    def _check_gallery(self):
        if self.gallery is None:
            raise ValueError('no gallery: pass prototype= or call prepare_prototype() first')

    @torch.no_grad()
    def encode_texts(self, texts):
        """Text features of a list of sentences through ``extract_text_feat``.

        Args:
            texts (list[str]): the sentences, tokenized as the config's ``TokenizeCaptions``
                step does.

        Returns:
            dict[str, Tensor]: the model's text features, on the device.
        """
        from mmdret.datasets.transforms.tokenize_captions import tokenize
        tokens, mask = tokenize(texts, self.max_words, self.tokenizer)
        inputs = dict(text=tokens.to(self.device), text_mask=mask.to(self.device))
        return self.model.extract_text_feat(inputs, query_samples(texts))

    def encode_video(self, path):
        """Features of one video (from the gallery when it is there), on the device.

        Args:
            path (str | os.PathLike): the video file.

        Returns:
            dict[str, Tensor]: the model's video features of a batch of one.

        Raises:
            ValueError: if the video is not in the gallery and cannot be decoded.
        """
        path = osp.abspath(str(path))
        if path in self.gallery_paths:
            row = self.gallery_paths.index(path)
            return to_device(select_rows(self.gallery, slice(row, row + 1)), self.device)
        encoded, errors = self._encode_videos([path])
        if errors:
            raise ValueError(f'cannot use {path!r}: {errors[path]}')
        features = {key: value[None] for key, value in encoded[path].items()}
        features.update(index=torch.tensor([stable_video_id(path)]),
                        corrupt=torch.zeros(1, dtype=torch.bool))
        return to_device(features, self.device)

    def _inputs_to_list(self, inputs):
        return self._check_sentences(inputs, 'queries')

    def preprocess(self, inputs, batch_size=1):
        for start in range(0, len(inputs), batch_size):
            yield inputs[start:start + batch_size]

    # -- search ------------------------------------------------------------------------------
    def gallery_embedding(self):
        """(N, D) ``model.embed('video', ...)`` of the gallery, computed in chunks, once."""
        if self._embedding is None:
            parts = []
            with torch.no_grad():
                for start in range(0, len(self.gallery_paths), self.coarse_chunk_size):
                    part = slice(start, start + self.coarse_chunk_size)
                    chunk = to_device(select_rows(self.gallery, part), self.device)
                    parts.append(self.model.embed('video', chunk).float().cpu())
            self._embedding = torch.cat(parts)
        return self._embedding

    def coarse_index(self):
        """The gallery's FAISS index (``coarse_backend='faiss'``), built once per gallery and
        saved next to the gallery cache; else the (N, D) embeddings."""
        if self.coarse_backend != 'faiss':
            return self.gallery_embedding()
        if self._faiss is None:
            index = self.gallery_index
            if index is None or index.paths != self.gallery_paths:
                index = VideoGalleryIndex(self.model_fingerprint)  # set_gallery: no cache
                index.paths = self.gallery_paths
                index.rows = {path: (0, 0, None) for path in self.gallery_paths}
            self._faiss = index.faiss_index(self.gallery_embedding)
        return self._faiss

    @torch.no_grad()
    def coarse_topk(self, text, shortlist):
        """Each query's top-``shortlist`` gallery indices (Q, S) by the coarse score, best
        first; torch goes over the gallery in chunks of ``coarse_chunk_size`` videos, keeping a
        running top-S (memory bounded).

        Args:
            text (dict[str, Tensor]): the text features of Q queries (:meth:`encode_texts`).
            shortlist (int): videos kept per query, at most the gallery size.

        Returns:
            Tensor: ``(Q, S)`` gallery indices, best first.
        """
        total = len(self.gallery_paths)
        shortlist = min(shortlist, total)
        if self.coarse_score == 'embedding':
            query = self.model.embed('text', text).float()
            if self.coarse_backend == 'faiss':
                _, best = self.coarse_index().search(query.cpu().contiguous().numpy(), shortlist)
                return torch.from_numpy(best).long()
            gallery = self.coarse_index()

            def score_part(part):
                return query.cpu() @ gallery[part].t()
        else:

            def score_part(part):
                chunk = to_device(select_rows(self.gallery, part), self.device)
                return self.model.score('t2v', text, chunk).float().cpu()
        num_queries = next(iter(text.values())).shape[0]
        best_scores = torch.empty(num_queries, 0)
        best_index = torch.empty(num_queries, 0, dtype=torch.long)
        for start in range(0, total, self.coarse_chunk_size):
            part = slice(start, min(start + self.coarse_chunk_size, total))
            scores = score_part(part)
            index = torch.arange(part.start, part.stop).expand_as(scores)
            best_scores = torch.cat([best_scores, scores], dim=1)
            best_index = torch.cat([best_index, index], dim=1)
            keep = best_scores.topk(min(shortlist, best_scores.shape[1]), dim=1)
            best_scores, best_index = keep.values, best_index.gather(1, keep.indices)
        return best_index

    @torch.no_grad()
    def score_texts(self, texts, shortlist=None):
        """Per query: ``(gallery indices, scores)`` of the scored videos, best first.

        ``shortlist=None`` scores the whole gallery with ``model.score``; an int scores only
        each query's coarse shortlist.

        Args:
            texts (list[str]): the query sentences.
            shortlist (int, optional): the coarse shortlist size. Defaults to None.

        Returns:
            list[tuple[Tensor, Tensor]]: per query, the gallery indices and their scores, best
            first.

        Raises:
            ValueError: if ``shortlist`` is smaller than 1.
        """
        self._check_gallery()
        text = self.encode_texts(texts)
        if shortlist is None:
            scores = self.model.score('t2v', text, to_device(self.gallery, self.device)).cpu()
            order = scores.argsort(dim=1, descending=True)
            return [(order[q], scores[q, order[q]]) for q in range(len(texts))]
        if shortlist < 1:
            raise ValueError(f'shortlist must be a positive int or None, got {shortlist}')
        candidates = self.coarse_topk(text, shortlist)
        union, position = torch.unique(candidates, return_inverse=True)
        scores = self.model.score('t2v', text, to_device(select_rows(self.gallery, union),
                                                         self.device)).cpu()
        scores = scores.gather(1, position)
        order = scores.argsort(dim=1, descending=True)
        return [(candidates[q, order[q]], scores[q, order[q]]) for q in range(len(texts))]

    def forward(self, inputs, topk=5, shortlist='default'):
        """Search one batch of sentences: per query ``dict(query, index, score)``, best first,
        ``topk`` long.

        Args:
            inputs (list[str]): the query sentences of the batch.
            topk (int): hits kept per query. Defaults to 5.
            shortlist (int | str, optional): the coarse shortlist size (raised to ``topk`` at
                least), None to score the whole gallery, or ``'default'`` for the constructor's
                ``shortlist``. Defaults to ``'default'``.

        Returns:
            list[dict]: per query, ``query`` and its top ``index`` and ``score`` tensors.
        """
        shortlist = self.shortlist if shortlist == 'default' else shortlist
        if shortlist is not None:
            shortlist = max(shortlist, topk)
        return [dict(query=query, index=index[:topk], score=score[:topk])
                for query, (index, score) in zip(inputs, self.score_texts(inputs, shortlist))]

    def __call__(self, inputs, return_datasamples=False, batch_size=8, topk=5,
                 shortlist='default', show_dir=None, html_file=None, show_frames=4):
        """Search the gallery.

        Args:
            inputs (str | list[str]): one sentence or several.
            return_datasamples (bool): return :class:`BaseDataElement` results (``pred_score``,
                ``pred_index`` tensors, ``query`` and ``videos`` metainfo). Defaults to False.
            batch_size (int): queries encoded and scored at once. Defaults to 8.
            topk (int): hits per query (at most the gallery size). Defaults to 5.
            shortlist (int | None): overrides the constructor's ``shortlist``.
            show_dir (str, optional): write one contact sheet PNG per query there.
            html_file (str, optional): write a self-contained HTML results page.
            show_frames (int): frames per hit in the pictures. Defaults to 4.

        Returns:
            list: per query, a list of hits ``dict(video, score, rank)`` (1-based rank, best
            first), or a data sample with ``return_datasamples=True``.
        """
        if not isinstance(topk, int) or topk < 1:
            raise ValueError(f'topk must be a positive int, got {topk!r}')
        self._check_gallery()
        return super().__call__(inputs, return_datasamples, batch_size, topk=topk,
                                shortlist=shortlist, show_dir=show_dir, html_file=html_file,
                                show_frames=show_frames)

    def hits(self, pred):
        """The hits of one prediction: ``[dict(video, score, rank)]``.

        Args:
            pred (dict): one result of :meth:`forward`, with ``index`` and ``score``.

        Returns:
            list[dict]: per hit, the video path, its score and its 1-based rank.
        """
        return [dict(video=self.gallery_paths[int(i)], score=float(s), rank=r + 1)
                for r, (i, s) in enumerate(zip(pred['index'], pred['score']))]

    def visualize(self, inputs, preds, show_dir=None, html_file=None, show_frames=4):
        """Contact sheets (``show_dir``, one PNG per query) and an HTML page (``html_file``) of
        the hits, drawn by :mod:`mmdret.visualization.search_results`; the written files.

        Args:
            inputs (list[str]): the query sentences.
            preds (list[dict]): the results of :meth:`forward`, one per query.
            show_dir (str, optional): folder of the contact sheets. Defaults to None (none).
            html_file (str, optional): the HTML page to write. Defaults to None (none).
            show_frames (int): frames drawn per hit. Defaults to 4.

        Returns:
            list[str] | None: the written files, or None when nothing is to be drawn.
        """
        if not show_dir and not html_file:
            return None
        from mmdret.visualization.search_results import (render_contact_sheet,
                                                         video_thumbnails, write_results_html)
        thumbnails = {}
        results = []
        for pred in preds:
            hits = self.hits(pred)
            for hit in hits:
                if hit['video'] not in thumbnails:
                    thumbnails[hit['video']] = video_thumbnails(
                        self._decodable(hit['video']), num_frames=show_frames)
                hit.update(path=hit['video'], frames=thumbnails[hit['video']])
            results.append(dict(query=pred['query'], hits=hits))
        written = []
        if show_dir:
            os.makedirs(show_dir, exist_ok=True)
            for number, result in enumerate(results):
                slug = ''.join(c if c.isalnum() else '_' for c in result['query'])[:40]
                written.append(render_contact_sheet(
                    result['query'], result['hits'],
                    osp.join(show_dir, f'{number + 1:02d}_{slug}.png')))
        if html_file:
            written.append(write_results_html(results, html_file))
        return written

    def postprocess(self, preds, visualization, return_datasamples=False):
        self.visualization = visualization
        if not return_datasamples:
            return [self.hits(pred) for pred in preds]
        return [BaseDataElement(pred_score=pred['score'], pred_index=pred['index'],
                                metainfo=dict(query=pred['query'], videos=[
                                    self.gallery_paths[int(i)] for i in pred['index']]))
                for pred in preds]

    @torch.no_grad()
    def video_to_text(self, video, sentences, topk=5):
        """Rank ``sentences`` for one video (``model.score('v2t', ...)``).

        Args:
            video (str | os.PathLike): the video file (its gallery features are used when it is in
                the gallery).
            sentences (str | list[str]): the candidate sentences.
            topk (int): sentences returned. Defaults to 5.

        Returns:
            list[dict]: ``text``, ``score`` and ``rank`` (1-based), best first.

        Raises:
            ValueError: if a sentence is empty, ``topk`` is not a positive int or the video cannot
                be decoded.
        """
        sentences = self._check_sentences(sentences, 'sentences')
        if not isinstance(topk, int) or topk < 1:
            raise ValueError(f'topk must be a positive int, got {topk!r}')
        query = self.encode_video(video)
        scores = self.model.score('v2t', query, self.encode_texts(sentences))[0].cpu()
        order = scores.argsort(descending=True)[:topk]
        return [dict(text=sentences[int(i)], score=float(scores[i]), rank=r + 1)
                for r, i in enumerate(order)]
