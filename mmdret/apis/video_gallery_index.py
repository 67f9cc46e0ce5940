"""The gallery of a video search: per-video retriever features, cached on disk, incremental.

A cache file holds tensors and one JSON string only, written with ``torch.save`` and read with
``torch.load(weights_only=True, mmap=True)``: no pickle of arbitrary objects is ever loaded (a
crafted file is refused, naming it) and the features stay memory-mapped, so a large gallery
costs the pages a search touches. Layout::

    {'meta': JSON str, 'size': (N,) int64, 'mtime_ns': (N,) int64,
     'features': {key: (N, ...) tensor}}

``meta`` holds ``format``, ``version``, ``model_fingerprint``, ``paths`` (the N encoded
videos, in row order) and ``failed`` (``{path: [size, mtime_ns, reason]}``, files that could
not be decoded, kept so that they are not retried until they change). File names that are not
valid UTF-8 are kept as Python's surrogate-escaped strings, which JSON carries as ``\\udcXX``.

The FAISS index of the gallery's single-vector embeddings is saved next to the cache
(``<cache>.faiss``, FAISS's own format, with ``<cache>.faiss.json`` naming the gallery it
indexes) and rebuilt only when the gallery changes.
"""
import hashlib
import json
import os
import os.path as osp

import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

GALLERY_FORMAT = 'mmdret-video-gallery'
GALLERY_VERSION = 2
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.gif',
                    '.flv', '.wmv')


def file_stat(path):
    """``(size, mtime_ns)`` of a file: the file part of the gallery fingerprint.

    Args:
        path (str): the file.

    Returns:
        tuple[int, int]: its size in bytes and its modification time in nanoseconds.
    """
    stat = os.stat(path)
    return int(stat.st_size), int(stat.st_mtime_ns)


def list_videos(folder, extensions=VIDEO_EXTENSIONS):
    """Video files under ``folder`` (recursive), sorted, as absolute paths.

    Args:
        folder (str): the folder to search.
        extensions (tuple[str]): lower-case file name endings of videos, compared with each
            lower-cased name. Defaults to ``VIDEO_EXTENSIONS``.

    Returns:
        list[str]: the absolute paths of the videos, sorted.
    """
    found = []
    for root, _, names in os.walk(folder):
        found.extend(osp.join(root, name) for name in names
                     if name.lower().endswith(extensions))
    return sorted(osp.abspath(path) for path in found)


def stable_video_id(path):
    """The :func:`stable_id` of a path: it seeds the per-video noise of models that draw any at
    inference, so a video's features do not depend on its place in the gallery.

    Args:
        path (str | os.PathLike): the video file.

    Returns:
        int: a non-negative 31-bit id of the path's bytes.
    """
    return stable_id(os.fsencode(path))


def stable_id(data):
    """A non-negative 31-bit id of ``data`` (bytes or str), the same in every process.

    Args:
        data (bytes | str): the data; a str is encoded as UTF-8 with surrogate escapes.

    Returns:
        int: the first 31 bits of the SHA-1 of ``data``.
    """
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogateescape')
    return int(hashlib.sha1(data).hexdigest()[:8], 16) & 0x7fffffff


class GalleryCacheError(ValueError):
    """A cache file that is not a gallery cache, or not one that can be read safely."""


class VideoGalleryIndex:
    """Per-video features of a list of files, kept in sync with the files and a cache file.

    :meth:`update` reuses every cached video whose size and modification time are unchanged,
    encodes new or changed ones (in batches, with a progress bar, flushing the cache every
    ``flush_interval`` videos so an interrupted build resumes) and drops files that are gone.
    The cache is discarded (and :attr:`rebuild_reason` says why) when it was written by another
    model (``model_fingerprint``), by another format version, or holds an entry of the wrong
    shape; a file that is not a gallery cache at all is refused (:class:`GalleryCacheError`)
    rather than overwritten.

    Under ``torch.distributed`` (``torchrun``) each process encodes its share of the files to
    encode (batch ``i`` of a round goes to rank ``i``); the features are gathered at every
    flush, every process holds the same merged gallery and rank 0 writes the cache.

    Args:
        model_fingerprint (str): identifies the model and pipeline the features come from.
        cache_file (str, optional): the cache file. Defaults to None (no cache).
        flush_interval (int): encoded videos between cache writes. Defaults to 64.
    """

    def __init__(self, model_fingerprint, cache_file=None, flush_interval=64):
        self.model_fingerprint = model_fingerprint
        self.cache_file = cache_file
        self.flush_interval = flush_interval
        # path -> (size, mtime_ns, row of the cache file's tensors | {key: tensor row})
        self.rows = {}
        self.failed = {}  # path -> (size, mtime_ns, reason)
        self.paths = []
        self.features = {}
        self.rebuild_reason = None
        self.num_encoded = self.num_reused = self.num_dropped = 0
        self._cached, self._cached_shapes, self._fresh_shapes = None, None, None

    # -- the cache file --------------------------------------------------------------------------
    def _read(self):
        """The cache's ``(meta, sizes, mtimes, features)``, or None when it must be rebuilt."""
        path = self.cache_file
        try:
            cache = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
        except Exception as error:  # a pickle with code, a foreign or truncated file
            raise GalleryCacheError(
                f'gallery cache {path!r} cannot be read safely ({type(error).__name__}: '
                f'{str(error).splitlines()[0] if str(error) else ""}); it is not a gallery '
                'cache written by mmdret: delete it or pass another cache file') from error
        meta = None
        if isinstance(cache, dict) and isinstance(cache.get('meta'), str):
            try:
                meta = json.loads(cache['meta'])
            except ValueError:
                meta = None
        if not isinstance(meta, dict) or meta.get('format') != GALLERY_FORMAT:
            raise GalleryCacheError(f'{path!r} is not a gallery cache: delete it or pass '
                                    'another cache file')
        if meta.get('version') != GALLERY_VERSION:
            self.rebuild_reason = f'cache format version {meta.get("version")}'
        elif meta.get('model_fingerprint') != self.model_fingerprint:
            self.rebuild_reason = ('the cache was written by another model (config or weights '
                                   'differ)')
        else:
            self.rebuild_reason = self._check_shapes(meta, cache)
        return None if self.rebuild_reason else (meta, cache)

    @staticmethod
    def _check_shapes(meta, cache):
        """Why the cache's entries do not fit together, or None."""
        paths, features = meta.get('paths'), cache.get('features')
        if not isinstance(paths, list) or not isinstance(features, dict) or not isinstance(
                meta.get('failed'), dict):
            return 'malformed cache'
        for key in ('size', 'mtime_ns'):
            if not torch.is_tensor(cache.get(key)) or cache[key].shape != (len(paths), ):
                return f'entry {key!r} has the wrong shape'
        for key, value in features.items():
            if not torch.is_tensor(value) or value.dim() == 0 or value.shape[0] != len(paths):
                return f'feature {key!r} has the wrong shape'
        return None

    def load(self):
        """Read the cache file (if any) into :attr:`rows` and :attr:`failed`."""
        self.rows, self.failed, self.rebuild_reason = {}, {}, None
        self._cached, self._cached_shapes, self._fresh_shapes = None, None, None
        if not self.cache_file or not osp.isfile(self.cache_file):
            return
        read = self._read()
        if read is None:
            print_log(f'Rebuilding the gallery cache {self.cache_file!r}: '
                      f'{self.rebuild_reason}', logger='current', level=30)
            return
        meta, cache = read
        sizes, mtimes = cache['size'].tolist(), cache['mtime_ns'].tolist()
        # Rows stay in the memory-mapped file: an entry is its row number there.
        self.rows = {path: (sizes[row], mtimes[row], row)
                     for row, path in enumerate(meta['paths'])}
        for path, (size, mtime_ns, reason) in meta['failed'].items():
            self.failed[path] = (size, mtime_ns, reason)
        if meta['paths']:
            self._cached = (meta['paths'], cache['features'])
            self._cached_shapes = {key: tuple(value.shape[1:])
                                   for key, value in cache['features'].items()}

    def save(self):
        """Write the cache atomically (rank 0 only)."""
        if not self.cache_file or get_dist_info()[0] != 0:
            return
        paths = list(self.rows)
        features = self._stack(paths)
        meta = dict(format=GALLERY_FORMAT, version=GALLERY_VERSION,
                    model_fingerprint=self.model_fingerprint, paths=paths,
                    failed={path: list(entry) for path, entry in self.failed.items()})
        os.makedirs(osp.dirname(osp.abspath(self.cache_file)), exist_ok=True)
        tmp = f'{self.cache_file}.tmp{os.getpid()}'
        torch.save(dict(meta=json.dumps(meta),
                        size=torch.tensor([self.rows[p][0] for p in paths], dtype=torch.long),
                        mtime_ns=torch.tensor([self.rows[p][1] for p in paths],
                                              dtype=torch.long),
                        features=features), tmp)
        os.replace(tmp, self.cache_file)

    def _stack(self, paths):
        """``{key: (len(paths), ...) tensor}`` of the rows of ``paths``: rows of the cache file
        gathered from it, freshly encoded rows stacked, in the order of ``paths``."""
        if not paths:
            return {}
        cached_at, cached_rows, fresh_at, fresh = [], [], [], []
        for position, path in enumerate(paths):
            entry = self.rows[path][2]
            if isinstance(entry, int):
                cached_at.append(position)
                cached_rows.append(entry)
            else:
                fresh_at.append(position)
                fresh.append(entry)
        keys = sorted(fresh[0]) if fresh else sorted(self._cached[1])
        inverse = torch.empty(len(paths), dtype=torch.long)
        inverse[torch.tensor(cached_at + fresh_at, dtype=torch.long)] = torch.arange(len(paths))
        features = {}
        for key in keys:
            parts = [self._cached[1][key][torch.tensor(cached_rows, dtype=torch.long)]
                     ] if cached_rows else []
            parts += [torch.stack([row[key] for row in fresh])] if fresh else []
            features[key] = torch.cat(parts)[inverse]
        return features

    # -- building ------------------------------------------------------------------------------
    def update(self, paths, encode, batch_size=8, show_progress=True):
        """Bring the gallery to ``paths``; see the class docstring.

        Args:
            paths (list[str]): the gallery's video files, in gallery order.
            encode (Callable): ``encode(paths) -> ({path: {key: CPU tensor}}, {path: reason})``
                for a batch of paths.
            batch_size (int): videos per ``encode`` call. Defaults to 8.
            show_progress (bool): progress bar (rank 0). Defaults to True.

        Returns:
            dict: the gallery's features, ``{key: (N, ...) tensor}`` in the order of
            :attr:`paths` (the files that could be decoded).
        """
        self.load()
        stats = {path: file_stat(path) for path in paths}
        cached = set(self.rows) | set(self.failed)
        self.rows = {p: e for p, e in self.rows.items() if stats.get(p) == tuple(e[:2])}
        self.failed = {p: e for p, e in self.failed.items() if stats.get(p) == tuple(e[:2])}
        self.num_reused = len(self.rows) + len(self.failed)
        self.num_dropped = len(cached - set(stats))
        changed = self.num_reused != len(cached)
        todo = [path for path in paths if path not in self.rows and path not in self.failed]
        self.num_encoded = 0
        todo = self._probe(paths, encode, stats) + todo
        rank, world_size = get_dist_info()
        progress = (ProgressBar(len(todo)) if todo and show_progress and rank == 0 else None)
        per_round = batch_size * world_size
        flush_rounds = max(1, self.flush_interval // per_round)
        number = 0
        while todo:
            batch, todo = todo[:per_round], todo[per_round:]
            mine = batch[rank * batch_size:(rank + 1) * batch_size]
            encoded, errors = encode(mine) if mine else ({}, {})
            # Merged in every process, so that all hold the same gallery afterwards.
            parts = all_gather_object((encoded, errors)) if world_size > 1 else [
                (encoded, errors)]
            for part_encoded, part_errors in parts:
                for path, features in part_encoded.items():
                    todo += self._drop_misfits(features, stats)
                    self.rows[path] = (*stats[path], features)
                for path, reason in part_errors.items():
                    self.failed[path] = (*stats[path], reason)
            self.num_encoded += len(batch)
            if progress is not None:
                for _ in range(min(len(batch), progress.task_num - progress.completed)):
                    progress.update()
            number += 1
            if number % flush_rounds == 0:
                self.save()
        if progress is not None:
            print()
        if self.num_encoded or changed or self.rebuild_reason or (
                self.cache_file and not osp.isfile(self.cache_file)):
            self.save()
        return self.select(paths)

    def _probe(self, paths, encode, stats):
        """Encode one cached video again and compare its feature shapes with the cache's (a
        cache of the right model may still hold rows of another shape, e.g. edited by hand);
        returns the paths to encode again (all cached ones on a mismatch)."""
        probe = next((path for path in paths if path in self.rows), None)
        if probe is None or self._cached_shapes is None:
            return []
        encoded, _ = encode([probe])
        if probe not in encoded:
            return []
        return self._drop_misfits(encoded[probe], stats)

    def _drop_misfits(self, features, stats):
        """When a freshly encoded row's keys or shapes differ from the cached rows', the cached
        rows are dropped (the cache is rebuilt); returns their paths, to encode again."""
        shapes = {key: tuple(value.shape) for key, value in features.items()}
        if self._fresh_shapes is None:
            self._fresh_shapes = shapes
        elif shapes != self._fresh_shapes:
            raise ValueError(f'the model encodes videos to features of varying shapes: '
                             f'{shapes} and {self._fresh_shapes}')
        if self._cached_shapes is None or self._cached_shapes == shapes:
            return []
        stale = [path for path, entry in self.rows.items() if isinstance(entry[2], int)]
        self._cached_shapes = None
        self.rebuild_reason = (f'{len(stale)} cached entries have the wrong shape '
                               f'(the model gives {shapes})')
        print_log(f'Rebuilding the gallery cache {self.cache_file!r}: {self.rebuild_reason}',
                  logger='current', level=30)
        for path in stale:
            del self.rows[path]
        self.num_reused -= len(stale)
        return [path for path in stale if path in stats]

    def select(self, paths):
        """Features of the decoded videos among ``paths``, in that order (sets
        :attr:`paths` and :attr:`features`).

        Args:
            paths (list[str]): the wanted videos; those not decoded are left out.

        Returns:
            dict[str, Tensor]: per feature key, an ``(N, ...)`` tensor with one row per kept
            video.
        """
        self.paths = [path for path in paths if path in self.rows]
        if (self._cached is not None and self._cached[0] == self.paths
                and all(isinstance(self.rows[path][2], int) for path in self.paths)):
            # Unchanged gallery in cache order: keep the memory-mapped tensors, no copy.
            self.features = dict(self._cached[1])
        else:
            self.features = self._stack(self.paths)
        return self.features

    def failed_reasons(self, paths):
        """``{path: reason}`` of the files among ``paths`` that could not be decoded.

        Args:
            paths (list[str]): the videos to look up.

        Returns:
            dict[str, str]: the decoding error of each failed video among ``paths``.
        """
        return {path: self.failed[path][2] for path in paths if path in self.failed}

    # -- FAISS ---------------------------------------------------------------------------------
    def gallery_digest(self):
        """SHA-1 of the model fingerprint and the gallery's files (order, size, mtime)."""
        listing = [[path, *self.rows[path][:2]] for path in self.paths]
        return hashlib.sha1(json.dumps([self.model_fingerprint, listing]).encode()).hexdigest()

    def faiss_index(self, embeddings):
        """An exact inner-product FAISS index of the gallery: read from ``<cache>.faiss`` when
        it indexes this gallery, else built from ``embeddings()`` ((N, D) float32) and saved.

        Args:
            embeddings (Callable): returns the gallery's (N, D) embeddings, in gallery order.
        """
        import faiss
        index_file = f'{self.cache_file}.faiss' if self.cache_file else None
        digest = self.gallery_digest()
        if index_file and osp.isfile(index_file) and osp.isfile(f'{index_file}.json'):
            with open(f'{index_file}.json') as f:
                try:
                    saved = json.load(f)
                except ValueError:
                    saved = {}
            if isinstance(saved, dict) and saved.get('gallery_digest') == digest:
                index = faiss.read_index(index_file)
                if index.ntotal == len(self.paths):
                    return index
        vectors = embeddings().float().cpu().contiguous().numpy()
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        if index_file and get_dist_info()[0] == 0:
            faiss.write_index(index, f'{index_file}.tmp')
            os.replace(f'{index_file}.tmp', index_file)
            with open(f'{index_file}.json', 'w') as f:
                json.dump(dict(gallery_digest=digest, size=len(self.paths)), f)
        return index
