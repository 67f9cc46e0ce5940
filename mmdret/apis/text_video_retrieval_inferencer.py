"""Search your own video folder with a trained DiffusionRet model.

Shaped after mmpretrain's ``TextToImageRetrievalInferencer``: the gallery ("prototype") is decoded
and encoded once with the config's test pipeline, cached to a file and reused; queries are then
encoded and scored against it::

    inferencer = TextVideoRetrievalInferencer(
        'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py', weights='epoch_8.pth',
        prototype='my_videos/', prototype_cache='my_videos.gallery.pth')
    inferencer('a red ball rolls to the left', topk=5)
    # [{'video': '/abs/my_videos/clip3.mp4', 'score': 0.71, 'rank': 1}, ...]
"""
import hashlib
import json
import os
import os.path as osp
import warnings

import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

from mmdret.registry import DATASETS, INFERENCERS, MODELS
from mmdret.utils.feature_cache import plain_config, state_dict_sha1

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.gif',
                    '.flv', '.wmv')
GALLERY_CACHE_FORMAT = 'mmdret-retrieval-gallery'
GALLERY_CACHE_VERSION = 1
# Model parts the gallery features depend on: a stage-1 and a stage-2 model sharing them (stage 2
# freezes the encoder) share the gallery cache.
FEATURE_COMPONENTS = ('encoder', 'similarity_head', 'data_preprocessor')
# Per-video feature keys kept in the gallery (``similarity_head.prepare_video`` output).
VIDEO_KEYS = ('frames', 'frame_mask', 'frame_weights')
DUMMY_CAPTION = 'a video'
COARSE_SCORES = ('similarity', 'embedding')
COARSE_BACKENDS = ('auto', 'torch', 'faiss')


def file_stat(path):
    """``(size, mtime_ns)`` of a file: the file part of the gallery fingerprint."""
    stat = os.stat(path)
    return int(stat.st_size), int(stat.st_mtime_ns)


def list_videos(folder, extensions=VIDEO_EXTENSIONS):
    """Video files under ``folder`` (recursive), sorted, as absolute paths."""
    found = []
    for root, _, names in os.walk(folder):
        found.extend(osp.join(root, name) for name in names
                     if name.lower().endswith(extensions))
    return sorted(osp.abspath(path) for path in found)


def _select(features, index):
    """Rows ``index`` (a LongTensor or slice) of every tensor of a feature dict."""
    return {key: value[index] for key, value in features.items()}


def pooled_embedding(features, weights):
    """One vector per item, ``sum_i w_i x_i / |x_i|``: (N, L, D) token or frame features and
    their (N, L) WTI weights -> (N, D).

    The inner product of a text's and a video's pooled embedding is a weighted mean of their
    token-frame cosines, which never exceeds the weighted maxima the WTI similarity sums: it is
    a lower bound of the stage-1 similarity, computable with one matrix product (or an index).
    """
    return torch.einsum('nl,nld->nd', weights, F.normalize(features, dim=-1))


def faiss_available():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


@INFERENCERS.register_module()
class TextVideoRetrievalInferencer:
    """Text-to-video search over a folder of videos, with a cached gallery.

    The gallery is encoded with the config's test pipeline (``test_dataloader.dataset.pipeline``,
    or ``test_pipeline``), in batches, with a progress bar. Its features are cached in
    ``prototype_cache`` together with a fingerprint of the model (config and weights of the parts
    the features depend on) and of each file (path, size, mtime): a later build reuses every
    unchanged video without decoding it, encodes only new or changed ones and drops deleted
    ones. A cache written by another model is rebuilt (logged). Partial results are flushed to
    the cache every ``flush_interval`` encoded videos, so an interrupted build resumes.

    Videos that cannot be decoded are skipped: they are listed in :attr:`failed_videos` and a
    warning names them; the search runs over the others.

    Scoring: with ``shortlist=None`` every query is scored against the whole gallery with
    ``model.score`` (stage-1 similarity, plus the diffusion re-ranking for a stage-2 model).
    With ``shortlist=S`` each query first takes its top-``S`` videos by a coarse score, and only
    these go through ``model.score``. The coarse score is either the stage-1 similarity itself
    (``coarse_score='similarity'``), computed over the gallery in chunks of
    ``coarse_chunk_size`` videos (memory bounded): as the re-ranker only re-scores each query's
    top-k stage-1 candidates, ``S >= reranker.topk`` then gives the exhaustive scores of the
    shortlisted videos; or (``'embedding'``) the inner product of one pooled vector per text and
    video (:func:`pooled_embedding`, a lower bound of the stage-1 similarity), cheaper by the
    number of token-frame pairs, searched in chunks by torch or by an exact FAISS inner-product
    index (``IndexFlatIP``, ``pip install mmdret[faiss]``): both give the same shortlist.

    Attributes set by :meth:`prepare_prototype`: ``gallery_paths`` (list of str),
    ``failed_videos`` (dict path -> reason), ``num_encoded`` (videos decoded and encoded by the
    last build), ``num_reused`` (taken from the cache), ``num_dropped`` (cache entries of files
    that are gone), ``rebuild_reason`` (why a cache was discarded, or None).

    Args:
        model (str | Config | dict): config file path or config.
        weights (str, optional): checkpoint file. Defaults to None (config initialisation).
        prototype (str | list[str] | dict, optional): the gallery: a video folder (searched
            recursively), a list of video files, or a dataset config (its videos' filenames).
            Defaults to None (call :meth:`prepare_prototype` later).
        prototype_cache (str, optional): gallery cache file. Defaults to None (no cache).
        device (str): torch device. Defaults to ``'cpu'``.
        batch_size (int): videos encoded at once. Defaults to 8.
        shortlist (int, optional): default coarse shortlist size (see above). Defaults to None.
        flush_interval (int): encoded videos between cache flushes. Defaults to 64.
        coarse_chunk_size (int): gallery videos scored at once by the coarse stage (torch).
            Defaults to 4096.
        show_progress (bool): show a progress bar while encoding. Defaults to True.
        coarse_score (str): ``'similarity'`` (the stage-1 similarity) or ``'embedding'``
            (pooled embeddings), see above. Defaults to ``'similarity'``.
        coarse_backend (str): search of the ``'embedding'`` coarse score: ``'torch'``,
            ``'faiss'`` (needs ``faiss``), or ``'auto'``: FAISS when it is installed and the
            coarse score is ``'embedding'``, else torch. Defaults to ``'auto'``.
    """

    def __init__(self,
                 model,
                 weights=None,
                 prototype=None,
                 prototype_cache=None,
                 device='cpu',
                 batch_size=8,
                 shortlist=None,
                 flush_interval=64,
                 coarse_chunk_size=4096,
                 show_progress=True,
                 coarse_score='similarity',
                 coarse_backend='auto'):
        if isinstance(model, str):
            cfg = Config.fromfile(model)
        elif isinstance(model, Config):
            cfg = model
        else:
            cfg = Config(dict(model))
        self.cfg = cfg
        init_default_scope(cfg.get('default_scope', 'mmdret'))
        self.device = torch.device(device)
        self.model = MODELS.build(cfg.model)
        if weights is not None:
            load_checkpoint(self.model, weights, map_location='cpu', logger='current')
        self.model.to(self.device).eval()
        self.weights = weights
        self.batch_size = batch_size
        self.shortlist = shortlist
        self.flush_interval = flush_interval
        self.coarse_chunk_size = coarse_chunk_size
        self.show_progress = show_progress
        self.coarse_score, self.coarse_backend = self._check_coarse(coarse_score, coarse_backend)
        self._coarse_index = None

        pipeline_cfg = self._test_pipeline_cfg(cfg)
        self.max_words, self.tokenizer = 32, 'ViT-B-32'
        for step in pipeline_cfg:
            if str(step.get('type', '')).rsplit('.', 1)[-1] == 'TokenizeCaptions':
                self.max_words = step.get('max_words', self.max_words)
                self.tokenizer = step.get('tokenizer', self.tokenizer)
        self.pipeline_cfg = pipeline_cfg
        self.pipeline = Compose([dict(step) for step in pipeline_cfg])
        self.model_fingerprint = self._model_fingerprint()

        self.gallery_paths, self.gallery = [], None
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
                raise ValueError("coarse_backend='faiss' searches pooled embeddings: it needs "
                                 "coarse_score='embedding'")
            if not faiss_available():
                raise ImportError("coarse_backend='faiss' needs faiss: pip install "
                                  'mmdret[faiss] (or faiss-cpu / faiss-gpu)')
        return score, backend

    @staticmethod
    def _test_pipeline_cfg(cfg):
        if cfg.get('test_pipeline') is not None:
            return list(cfg.test_pipeline)
        try:
            return list(cfg.test_dataloader.dataset.pipeline)
        except AttributeError as error:
            raise ValueError('the config names no test pipeline (test_pipeline or '
                             'test_dataloader.dataset.pipeline)') from error

    def _model_fingerprint(self):
        """SHA-1 over the config and weights of the parts the gallery features depend on."""
        parts = [n for n in FEATURE_COMPONENTS if hasattr(self.model, n)] or ['']
        config = {name: plain_config(self.cfg.model.get(name)) for name in parts if name}
        config['pipeline'] = plain_config(self.pipeline_cfg)
        if parts == ['']:
            config['model'] = plain_config(self.cfg.model)
        digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=repr).encode())
        for name in parts:
            digest.update(state_dict_sha1(getattr(self.model, name) if name else self.model)
                          .encode())
        return digest.hexdigest()

    @staticmethod
    def resolve_prototype(prototype):
        """Absolute video paths of a folder, a list of files or a dataset config."""
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
    def _load_cache(self, cache_file):
        empty = dict(videos={}, failed={})
        if not cache_file or not osp.isfile(cache_file):
            return empty
        try:
            cache = torch.load(cache_file, map_location='cpu', weights_only=False)
        except Exception as error:  # a truncated or foreign file: start over
            self.rebuild_reason = f'unreadable cache ({type(error).__name__}: {error})'
        else:
            if not isinstance(cache, dict) or cache.get('format') != GALLERY_CACHE_FORMAT:
                self.rebuild_reason = 'not a gallery cache'
            elif cache.get('version') != GALLERY_CACHE_VERSION:
                self.rebuild_reason = f'cache format version {cache.get("version")}'
            elif cache.get('model_fingerprint') != self.model_fingerprint:
                self.rebuild_reason = ('the cache was written by another model (config or '
                                       'weights differ)')
            else:
                return cache
        print_log(f'Rebuilding the gallery cache {cache_file!r}: {self.rebuild_reason}',
                  logger='current', level=30)
        return empty

    def _save_cache(self, cache_file, videos, failed):
        if not cache_file:
            return
        os.makedirs(osp.dirname(osp.abspath(cache_file)), exist_ok=True)
        tmp = f'{cache_file}.tmp{os.getpid()}'
        torch.save(dict(format=GALLERY_CACHE_FORMAT, version=GALLERY_CACHE_VERSION,
                        model_fingerprint=self.model_fingerprint, videos=videos,
                        failed=failed), tmp)
        os.replace(tmp, cache_file)

    def prepare_prototype(self, prototype, prototype_cache=None):
        """Build (or load) the gallery features; see the class docstring for the cache rules."""
        paths = self.resolve_prototype(prototype)
        self.rebuild_reason = None
        cache = self._load_cache(prototype_cache)
        stats = {path: file_stat(path) for path in paths}
        videos, failed = {}, {}
        for path, entry in cache['videos'].items():
            if stats.get(path) == (entry['size'], entry['mtime_ns']):
                videos[path] = entry
        for path, entry in cache['failed'].items():
            if stats.get(path) == (entry['size'], entry['mtime_ns']):
                failed[path] = entry
        self.num_reused = len(videos) + len(failed)
        self.num_dropped = len((set(cache['videos']) | set(cache['failed'])) - set(stats))
        todo = [path for path in paths if path not in videos and path not in failed]
        self.num_encoded = 0

        progress = ProgressBar(len(todo)) if todo and self.show_progress else None
        since_flush = 0
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            encoded, errors = self._encode_videos(batch)
            for path, features in encoded.items():
                size, mtime_ns = stats[path]
                videos[path] = dict(size=size, mtime_ns=mtime_ns, features=features)
            for path, reason in errors.items():
                size, mtime_ns = stats[path]
                failed[path] = dict(size=size, mtime_ns=mtime_ns, reason=reason)
            self.num_encoded += len(batch)
            since_flush += len(batch)
            if progress is not None:
                for _ in batch:
                    progress.update()
            if since_flush >= self.flush_interval:
                self._save_cache(prototype_cache, videos, failed)
                since_flush = 0
        if progress is not None:
            print()
        if todo or self.num_dropped or self.rebuild_reason or (
                prototype_cache and not osp.isfile(prototype_cache)):
            self._save_cache(prototype_cache, videos, failed)

        self.failed_videos = {path: failed[path]['reason'] for path in paths if path in failed}
        if self.failed_videos:
            names = ', '.join(self.failed_videos)
            message = (f'{len(self.failed_videos)} of {len(paths)} videos could not be decoded '
                       f'and are left out of the gallery: {names}')
            print_log(message, logger='current', level=30)
            warnings.warn(message, stacklevel=2)
        good = [path for path in paths if path in videos]
        if not good:
            raise ValueError(f'none of the {len(paths)} prototype videos could be decoded')
        return self.set_gallery(good, {key: torch.stack([videos[p]['features'][key]
                                                         for p in good]) for key in VIDEO_KEYS})

    def set_gallery(self, paths, features):
        """Use precomputed gallery features: ``features`` maps ``frames`` (N, T, D),
        ``frame_mask`` (N, T) and ``frame_weights`` (N, T) to tensors, row i for ``paths[i]``."""
        if any(features[key].shape[0] != len(paths) for key in VIDEO_KEYS):
            raise ValueError(f'features must have one row per path ({len(paths)})')
        self.gallery_paths = list(paths)
        self.gallery = {key: features[key].to(self.device) for key in VIDEO_KEYS}
        self.gallery['index'] = torch.arange(len(self.gallery_paths), device=self.device)
        self._coarse_index = None
        return self.gallery

    # -- encoding ----------------------------------------------------------------------------
    def _pipeline_item(self, path, idx=0):
        return self.pipeline(dict(filename=path, video_id=osp.basename(path), video_idx=idx,
                                  text_idx=[0], texts=[DUMMY_CAPTION]))

    @torch.no_grad()
    def _encode_videos(self, paths):
        """Decode and encode videos: ``({path: {key: CPU tensor}}, {path: error message})``."""
        items, good, errors = [], [], {}
        for path in paths:
            try:
                items.append(self._pipeline_item(path))
                good.append(path)
            except Exception as error:  # VideoDecodeError, or a transform failing on it
                errors[path] = f'{type(error).__name__}: {error}'
        if not items:
            return {}, errors
        data = self.model.data_preprocessor(pseudo_collate(items), False)
        inputs = data['inputs']
        frames = self.model.encoder.encode_video(inputs['video'], inputs['video_mask'])
        video = self.model.similarity_head.prepare_video(frames, inputs['video_mask'])
        encoded = {path: {key: video[key][i].detach().cpu() for key in VIDEO_KEYS}
                   for i, path in enumerate(good)}
        return encoded, errors

    @torch.no_grad()
    def encode_texts(self, texts):
        """Text features of a list of sentences, with ``index`` 0..N-1."""
        from mmdret.datasets.transforms.tokenize_captions import tokenize
        tokens, mask = tokenize(texts, self.max_words, self.tokenizer)
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        features, eot = self.model.encoder.encode_text(tokens, mask)
        text = self.model.similarity_head.prepare_text(features, mask)
        text.update(eot=eot, index=torch.arange(len(texts), device=self.device))
        return text

    def encode_video(self, path):
        """Features of one video (from the gallery when it is there), with ``index`` 0."""
        path = osp.abspath(str(path))
        if path in self.gallery_paths:
            row = self.gallery_paths.index(path)
            features = _select(self.gallery, slice(row, row + 1))
        else:
            encoded, errors = self._encode_videos([path])
            if errors:
                raise ValueError(f'cannot use {path!r}: {errors[path]}')
            features = {key: value[None].to(self.device) for key, value in encoded[path].items()}
        features['index'] = torch.zeros(1, dtype=torch.long, device=self.device)
        return features

    # -- search ------------------------------------------------------------------------------
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

    def coarse_index(self):
        """The gallery's pooled embeddings (N, D), or their FAISS index; built once per
        gallery."""
        if self._coarse_index is None:
            embedding = pooled_embedding(self.gallery['frames'], self.gallery['frame_weights'])
            if self.coarse_backend == 'faiss':
                import faiss
                self._coarse_index = faiss.IndexFlatIP(embedding.shape[1])
                self._coarse_index.add(embedding.float().cpu().contiguous().numpy())
            else:
                self._coarse_index = embedding
        return self._coarse_index

    @torch.no_grad()
    def coarse_topk(self, text, shortlist):
        """Each query's top-``shortlist`` gallery indices (Q, S) by the coarse score (see the
        class docstring), best first; torch goes over the gallery in chunks of
        ``coarse_chunk_size`` videos."""
        num_queries = text['tokens'].shape[0]
        total = len(self.gallery_paths)
        if self.coarse_score == 'embedding':
            query = pooled_embedding(text['tokens'], text['token_weights'])
            gallery = self.coarse_index()
            if self.coarse_backend == 'faiss':
                _, best = gallery.search(query.float().cpu().contiguous().numpy(),
                                         min(shortlist, total))
                return torch.from_numpy(best).to(self.device)

            def score_part(part):
                return query @ gallery[part].t()
        else:

            def score_part(part):
                return self.model.similarity_head.similarity(text, _select(self.gallery, part))
        best_scores = torch.empty(num_queries, 0, device=self.device)
        best_index = torch.empty(num_queries, 0, dtype=torch.long, device=self.device)
        for start in range(0, total, self.coarse_chunk_size):
            part = slice(start, min(start + self.coarse_chunk_size, total))
            scores = score_part(part)
            index = torch.arange(part.start, part.stop, device=self.device).expand_as(scores)
            best_scores = torch.cat([best_scores, scores], dim=1)
            best_index = torch.cat([best_index, index], dim=1)
            keep = best_scores.topk(min(shortlist, best_scores.shape[1]), dim=1)
            best_scores, best_index = keep.values, best_index.gather(1, keep.indices)
        return best_index

    @torch.no_grad()
    def score_texts(self, texts, shortlist=None):
        """Per query: ``(gallery indices, scores)`` of the scored videos, best first.

        ``shortlist=None`` scores the whole gallery with ``model.score``; an int scores only
        each query's coarse shortlist (all videos when it covers the gallery).
        """
        self._check_gallery()
        text = self.encode_texts(texts)
        if shortlist is None:
            scores = self.model.score('t2v', text, self.gallery)
            order = scores.argsort(dim=1, descending=True)
            return [(order[q].cpu(), scores[q, order[q]].cpu()) for q in range(len(texts))]
        if shortlist < 1:
            raise ValueError(f'shortlist must be a positive int or None, got {shortlist}')
        candidates = self.coarse_topk(text, shortlist)
        # One model.score call over the union of the shortlists keeps the queries batched (the
        # re-ranker's sampling loop runs once); each query keeps the scores of its own shortlist,
        # whose top-k (k <= shortlist) is the top-k of the union for that query.
        union, position = torch.unique(candidates, return_inverse=True)
        scores = self.model.score('t2v', text, _select(self.gallery, union))
        scores = scores.gather(1, position)
        order = scores.argsort(dim=1, descending=True)
        return [(candidates[q, order[q]].cpu(), scores[q, order[q]].cpu())
                for q in range(len(texts))]

    def __call__(self, queries, topk=5, shortlist='default'):
        """Search the gallery.

        Args:
            queries (str | list[str]): one sentence or a batch.
            topk (int): hits per query (at most the gallery size). Defaults to 5.
            shortlist (int | None): overrides the constructor's ``shortlist``.

        Returns:
            list[dict] for a str query, list[list[dict]] for a list: ``video`` (path),
            ``score`` (float) and ``rank`` (1-based), best first.
        """
        single = isinstance(queries, str)
        sentences = self._check_sentences(queries, 'queries')
        self._check_gallery()
        shortlist = self.shortlist if shortlist == 'default' else shortlist
        if shortlist is not None:
            shortlist = max(shortlist, topk)
        hits = []
        for index, scores in self.score_texts(sentences, shortlist):
            hits.append([dict(video=self.gallery_paths[int(i)], score=float(s), rank=r + 1)
                         for r, (i, s) in enumerate(zip(index[:topk], scores[:topk]))])
        return hits[0] if single else hits

    @torch.no_grad()
    def video_to_text(self, video, sentences, topk=5):
        """Rank ``sentences`` for one video (``model.score('v2t', ...)``).

        Returns:
            list[dict]: ``text``, ``score`` and ``rank`` (1-based), best first.
        """
        sentences = self._check_sentences(sentences, 'sentences')
        query = self.encode_video(video)
        scores = self.model.score('v2t', query, self.encode_texts(sentences))[0].cpu()
        order = scores.argsort(descending=True)[:topk]
        return [dict(text=sentences[int(i)], score=float(scores[i]), rank=r + 1)
                for r, i in enumerate(order)]
