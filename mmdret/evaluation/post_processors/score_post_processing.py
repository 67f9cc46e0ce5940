"""Fitting the score post-processors inside the sharded retrieval evaluation."""
import copy

import torch
from mmengine.runner import Runner

from mmdret.evaluation.functional.retrieval_features import (extract_features,
                                                            slice_features)
from mmdret.registry import TASK_UTILS
from .base_post_processor import owned_rows

QUERY_MODALITY = dict(t2v='text', v2t='video')


def parse_post_processor_cfg(cfg):
    """``None``, one config for both directions, or ``dict(t2v=cfg_or_None, v2t=...)``."""
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
    """Scores of the rows of ``queries`` this rank owns (:func:`owned_rows`), chunk by chunk."""
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
    features of ``query_bank['dataloader']`` (its texts for t2v, its videos for v2t), extracted
    once per evaluation and dataloader. Fitting scores every fitting row once with the model,
    in chunks.
    """

    def __init__(self, cfg, chunk_size):
        self.cfgs = parse_post_processor_cfg(cfg)
        self.chunk_size = chunk_size
        for cfg in self.cfgs.values():  # fail at construction on a bad config
            if cfg is not None:
                self._check(TASK_UTILS.build(copy.deepcopy(cfg)))
        self.banks = {}

    @staticmethod
    def _check(processor):
        if processor.fit_on not in ('queries', 'query_bank'):
            raise ValueError(f'{type(processor).__name__}.fit_on must be "queries" or '
                             f'"query_bank", got {processor.fit_on!r}')
        if processor.fit_on == 'query_bank' and 'dataloader' not in (processor.query_bank or {}):
            raise ValueError(f'{type(processor).__name__} needs query_bank=dict(dataloader='
                             'dict(...)), a dataloader of training queries')

    def start(self):
        """Forget the previous evaluation's query banks (the model has changed)."""
        self.banks = {}

    def query_bank(self, direction, processor, model, fp16):
        """Features of the bank's dataloader, extracted once per evaluation and dataloader."""
        key = repr(self.cfgs[direction].get('query_bank'))  # as configured, before any copy
        if key not in self.banks:
            loader = Runner.build_dataloader(copy.deepcopy(processor.query_bank['dataloader']))
            self.banks[key] = extract_features(model, loader, fp16)
        return self.banks[key]

    def fitted(self, direction, model, queries, candidates, fp16=False):
        """The fitted post-processor of ``direction``, or None when it has none."""
        cfg = self.cfgs[direction]
        if cfg is None:
            return None
        processor = TASK_UTILS.build(copy.deepcopy(cfg))
        if processor.fit_on == 'queries':
            rows = queries
        else:
            rows = self.query_bank(direction, processor, model, fp16)[QUERY_MODALITY[direction]]

        def score_fn(chunk):
            return model.score(direction, chunk, candidates)

        return processor.fit(owned_score_chunks(score_fn, rows, self.chunk_size),
                             num_candidates=candidates['index'].numel())
