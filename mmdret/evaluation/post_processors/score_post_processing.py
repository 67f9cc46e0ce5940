"""Fitting the score post-processors inside the sharded retrieval evaluation."""
import copy

import torch

from mmdret.evaluation.functional.retrieval_features import slice_features
from mmdret.registry import TASK_UTILS
from .base_post_processor import owned_rows

QUERY_MODALITY = dict(t2v='text', v2t='video')


def parse_post_processor_cfg(cfg):
    """``None``, one config for both directions, or ``dict(t2v=cfg_or_None, v2t=...)``.

    Args:
        cfg (dict | None): the ``post_processor`` config of the loop.
    """
    if cfg is None:
        return dict(t2v=None, v2t=None)
    if not isinstance(cfg, dict):
        raise TypeError(f'post_processor must be a dict config or None, got {cfg!r}')
    if 'type' in cfg:
        return dict(t2v=cfg, v2t=cfg)
    unknown = set(cfg) - set(QUERY_MODALITY)
    if unknown:
        raise ValueError(f"post_processor: expected a config with 'type' or per-direction "
                         f"keys 't2v'/'v2t', got keys {sorted(cfg)}")
    return dict(t2v=cfg.get('t2v'), v2t=cfg.get('v2t'))


def owned_score_chunks(score_fn, queries, chunk_size):
    """Scores of the rows of ``queries`` this rank owns (:func:`owned_rows`), chunk by chunk.

    Args:
        score_fn (callable): maps a chunk of query features to its ``(Q, C)`` scores.
        queries (dict): this rank's query features.
        chunk_size (int): queries scored at once.
    """
    keep = owned_rows(queries['index'])
    for start in range(0, keep.numel(), chunk_size):
        part = keep[start:start + chunk_size]
        if not bool(part.any()):
            continue
        chunk = slice_features(queries, slice(start, start + chunk_size))
        with torch.no_grad():
            scores = score_fn(chunk).float()
        yield scores[part.to(scores.device)]


class ScorePostProcessing:
    """Builds and fits a post-processor per direction for one evaluation (see
    :class:`BaseScorePostProcessor`).

    ``fit_on='queries'`` processors are fitted on the direction's own queries (each rank its
    shard, padding duplicates counted once over all ranks); ``'query_bank'`` processors on the
    features of a query bank (its texts for t2v, its videos for v2t). The post-processors only
    consume features: the evaluation loop extracts each bank through the retriever contract
    (``mmdret.evaluation.functional.extract_features``) from the dataloaders
    :meth:`bank_dataloaders` names, once per evaluation, and hands them to :meth:`fitted`.
    Fitting scores every fitting row once with the model, in chunks.

    Args:
        cfg (dict | None): ``None``, one ``TASK_UTILS`` config for both directions, or
            ``dict(t2v=cfg_or_None, v2t=cfg_or_None)``.
        chunk_size (int): query rows scored at once while fitting.
    """

    def __init__(self, cfg, chunk_size):
        self.cfgs = parse_post_processor_cfg(cfg)
        self.chunk_size = chunk_size
        for cfg in self.cfgs.values():  # fail at construction on a bad config
            if cfg is not None:
                self._check(TASK_UTILS.build(copy.deepcopy(cfg)))

    @staticmethod
    def _check(processor):
        if processor.fit_on not in ('queries', 'query_bank'):
            raise ValueError(f'{type(processor).__name__}.fit_on must be "queries" or '
                             f'"query_bank", got {processor.fit_on!r}')
        if processor.fit_on == 'query_bank' and 'dataloader' not in (processor.query_bank or {}):
            raise ValueError(f'{type(processor).__name__} needs query_bank=dict(dataloader='
                             'dict(...)), a dataloader of training queries')

    def bank_key(self, direction):
        """Name of ``direction``'s query bank (equal for equal bank configs), or None.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
        """
        cfg = self.cfgs[direction]
        if cfg is None or TASK_UTILS.build(copy.deepcopy(cfg)).fit_on != 'query_bank':
            return None
        return repr(cfg.get('query_bank'))  # as configured, before any copy

    def bank_dataloaders(self):
        """The dataloader config of every distinct query bank: ``{bank key: dataloader}``."""
        loaders = {}
        for direction, cfg in self.cfgs.items():
            key = self.bank_key(direction)
            if key is not None:
                loaders.setdefault(key, cfg['query_bank']['dataloader'])
        return loaders

    def fitted(self, direction, model, queries, candidates, banks=None):
        """The fitted post-processor of ``direction``, or None when it has none.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
            model (BaseRetriever): the retriever whose ``score`` the fitting rows go through.
            queries (dict): this rank's query features of ``direction``.
            candidates (dict): all candidate features of ``direction``.
            banks (dict, optional): ``{bank key: dict(text=..., video=...)}``, this rank's
                features of each dataloader of :meth:`bank_dataloaders`; needed by query-bank
                processors. Defaults to None.
        """
        cfg = self.cfgs[direction]
        if cfg is None:
            return None
        processor = TASK_UTILS.build(copy.deepcopy(cfg))
        if processor.fit_on == 'queries':
            rows = queries
        else:
            key = self.bank_key(direction)
            if not banks or key not in banks:
                raise ValueError(f'{type(processor).__name__} ({direction}) is fitted on a query '
                                 'bank: pass the features of its dataloader as banks[key], key '
                                 'from bank_dataloaders()')
            rows = banks[key][QUERY_MODALITY[direction]]

        def score_fn(chunk):
            return model.score(direction, chunk, candidates)

        return processor.fit(owned_score_chunks(score_fn, rows, self.chunk_size),
                             num_candidates=candidates['index'].numel())
