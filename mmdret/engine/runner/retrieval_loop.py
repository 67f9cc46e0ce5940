import copy
import time

import torch
from mmengine.dist import all_reduce, get_rank
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, TestLoop, ValLoop

from mmdret.evaluation.functional import (DIRECTIONS, TIE_WEIGHTS, check_tie_rule,
                                          check_v2t_protocol, extract_features, non_finite_rows,
                                          non_finite_scores_error, rank_counts, ranking_inputs,
                                          slice_features)
from mmdret.evaluation.post_processors import ScorePostProcessing
from mmdret.evaluation.post_processors.base_post_processor import owned_rows
from mmdret.registry import LOOPS
from mmdret.utils.distributed import gather_indexed
from .query_scoring import QueryChunkScorer


def sum_over_ranks(value):
    """The sum of an integer over all distributed ranks.

    Args:
        value (int): this rank's value.

    Returns:
        int: the all-reduced sum (``value`` itself outside distributed runs).
    """
    total = torch.tensor(value)
    all_reduce(total)
    return int(total)


class RetrievalEvaluation:
    """Sharded retrieval evaluation shared by the val and test loops.

    Each rank extracts features for its shard of the dataset, the candidates of both modalities
    are gathered once, and each rank scores only its own queries, ``query_chunk_size`` at a time
    (never a full N x N matrix), turning each chunk into ranks at once.

    ``post_processor`` (optional, a ``TASK_UTILS`` config such as ``dict(type='DualSoftmax')`` or
    ``dict(type='QueryBankNorm', query_bank=...)``, or ``dict(t2v=..., v2t=...)`` per direction)
    is fitted per direction before ranking (see :class:`ScorePostProcessing`) and applied to
    each chunk's scores; None (default) leaves the scores untouched.

    After each chunk is ranked the loops call the custom hook point ``after_val_chunk`` /
    ``after_test_chunk(runner, direction, queries, candidates, scores, ranks)`` (this rank's
    query chunk, all candidates, its (Q, C) scores and 0-based ground-truth ranks), so hooks such
    as ``RetrievalVisualizationHook`` can keep what they need without a second scoring pass.

    Args:
        query_chunk_size (int): queries scored at once per rank. Defaults to 32.
        tie_rule (str): how ties with the ground truth count: ``'pessimistic'``,
            ``'optimistic'``, ``'mean'`` or ``'clip4clip'`` (see :class:`RetrievalValLoop`).
            Defaults to ``'pessimistic'``.
        post_processor (dict, optional): the score post-processing config described above.
            Defaults to None.
        v2t_protocol (str): video-to-text ranking on multi-caption test sets,
            ``'video_max'`` or ``'caption'`` (see :class:`RetrievalValLoop`). Defaults to
            ``'video_max'``.
        share_similarity (bool): compute the stage-1 similarity once for both directions when
            the model shares it (see :class:`RetrievalValLoop`). Defaults to True.

    Raises:
        ValueError: on an unknown ``tie_rule`` or ``v2t_protocol``.
    """

    def __init__(self, query_chunk_size=32, tie_rule='pessimistic', post_processor=None,
                 v2t_protocol='video_max', share_similarity=True):
        check_tie_rule(tie_rule)
        check_v2t_protocol(v2t_protocol)
        self.query_chunk_size = query_chunk_size
        self.share_similarity = share_similarity
        self.tie_rule = tie_rule
        self.v2t_protocol = v2t_protocol
        self.post_processing = (None if post_processor is None else
                                ScorePostProcessing(post_processor, query_chunk_size))

    def __call__(self, loop, mode):
        runner = loop.runner
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.eval()
        features = self.extract(loop, model, mode)
        records, num_corrupt = self.rank_queries(
            runner, model, features, loop.fp16,
            on_chunk=lambda **chunk: runner.call_hook(f'after_{mode}_chunk', **chunk))
        loop.evaluator.process(data_samples=records, data_batch=None)
        metrics = loop.evaluator.evaluate(sum_over_ranks(len(records)))
        if num_corrupt:
            runner.logger.warning(f'{num_corrupt} videos could not be decoded and were kept '
                                  'with an empty frame mask (corrupt_video_policy="mask")')
        metrics[f'{loop.evaluator.metrics[0].prefix}/corrupt_videos'] = num_corrupt
        return metrics

    def run(self, loop, mode):
        """:meth:`__call__` between the ``before_<mode>[_epoch]`` and ``after_<mode>[_epoch]``
        hooks, as the body of a val (``mode='val'``) or test (``'test'``) loop's ``run``.

        Args:
            loop (ValLoop | TestLoop): The loop; supplies the runner, dataloader and evaluator.
            mode (str): ``'val'`` or ``'test'``, the hook names' infix.

        Returns:
            dict: The evaluator's metrics.
        """
        loop.runner.call_hook(f'before_{mode}')
        loop.runner.call_hook(f'before_{mode}_epoch')
        metrics = self(loop, mode)
        loop.runner.call_hook(f'after_{mode}_epoch', metrics=metrics)
        loop.runner.call_hook(f'after_{mode}')
        return metrics

    def extract(self, loop, model, mode):
        def call_hooks(stage, batch_idx, data_batch):
            extra = dict(outputs=None) if stage == 'after' else {}
            loop.runner.call_hook(f'{stage}_{mode}_iter', batch_idx=batch_idx,
                                  data_batch=data_batch, **extra)

        return extract_features(model, loop.dataloader, loop.fp16, call_hooks)

    def rank_queries(self, runner, model, local, fp16=False, on_chunk=None):
        gathered = {}
        for modality, features in local.items():
            gathered[modality], _ = gather_indexed(features, features['index'])
        records = []
        # Query banks of the post-processors, through the retriever contract, once per call.
        banks = {} if self.post_processing is None else {
            key: extract_features(model, Runner.build_dataloader(copy.deepcopy(loader)), fp16)
            for key, loader in self.post_processing.bank_dataloaders().items()}
        # Sampler padding repeats queries on other ranks: each is scored (and dumped) once.
        owned = {modality: slice_features(features, owned_rows(features['index']))
                 for modality, features in local.items()}
        scorer = QueryChunkScorer(model, owned, gathered, self.query_chunk_size,
                                  self.share_similarity)
        for direction, query_modality, candidate_modality in DIRECTIONS:
            queries, candidates = owned[query_modality], gathered[candidate_modality]
            total = queries['index'].numel()
            num_bad = 0
            started = time.time()
            post = (None if self.post_processing is None else
                    self.post_processing.fitted(direction, model, queries, candidates, banks))
            for chunk, scores in scorer.chunks(direction):
                if post is not None:
                    with torch.no_grad():
                        scores = post(scores)
                bad = non_finite_rows(scores)
                if bool(bad.any()):  # counted over all chunks and ranks, refused below
                    num_bad += int(bad.sum())
                    continue
                above, tied = rank_counts(*ranking_inputs(direction, scores.float(), chunk,
                                                          candidates, self.v2t_protocol),
                                          direction)
                ranks = above + TIE_WEIGHTS[self.tie_rule] * tied
                records.extend(self.record(direction, index, rank, ties)
                               for index, rank, ties in zip(chunk['index'], ranks, tied))
                if on_chunk is not None:
                    on_chunk(direction=direction, queries=chunk, candidates=candidates,
                             scores=scores, ranks=ranks)
            num_bad = sum_over_ranks(num_bad)
            if num_bad:
                raise non_finite_scores_error(direction, num_bad, sum_over_ranks(total))
            runner.logger.info(f'[rank {get_rank()}] scored {total} {direction} queries against '
                               f'{candidates["index"].numel()} candidates in '
                               f'{time.time() - started:.1f}s'
                               + ('' if post is None else f' (post-processed by {post!r})'))
        # Counted on the gathered gallery, where sampler padding is already removed.
        return records, int(gathered['video']['corrupt'].sum())

    def record(self, direction, index, rank, tied):
        record = dict(direction=direction, query_idx=int(index), rank=float(rank))
        if self.tie_rule == 'clip4clip':  # the metric counts each tied position
            record['tied'] = int(tied)
        return record


@LOOPS.register_module()
class RetrievalValLoop(ValLoop):
    """Validation loop for text-video retrieval (sharded, chunked, both directions).

    Args:
        runner (Runner): the runner.
        dataloader (dict | DataLoader): the validation dataloader (one item per video).
        evaluator (dict | list | Evaluator): usually ``TextVideoRetrievalMetric``.
        query_chunk_size (int): queries scored at once per rank. Defaults to 32.
        tie_rule (str): how ties with the ground truth count: ``'pessimistic'`` (default, all
            tied negatives rank above), ``'optimistic'``, ``'mean'``, or ``'clip4clip'`` (the
            official evaluation's counting, for reproducing its figures exactly), see
            :func:`mmdret.evaluation.functional.ground_truth_ranks`.
        fp16 (bool): autocast feature extraction. Defaults to False.
        post_processor (dict, optional): score post-processing before ranking (``DualSoftmax``,
            ``QueryBankNorm``), see :class:`RetrievalEvaluation`. Defaults to None (none).
        v2t_protocol (str): video-to-text on multi-caption test sets: ``'video_max'``
            (default, the published protocol: a video query ranks the videos, each scored by
            its best caption) or ``'caption'`` (its best caption among all captions of the
            other videos), see :func:`mmdret.evaluation.functional.ranking_inputs`.
        share_similarity (bool): for models whose directions share the stage-1 similarity
            (DiffusionRet), compute it once and serve video-to-text from its columns (scores
            unchanged; holds texts x local videos floats per rank), see
            :class:`~mmdret.engine.runner.query_scoring.QueryChunkScorer`. False scores each
            direction separately. Defaults to True.
    """

    def __init__(self, runner, dataloader, evaluator, query_chunk_size=32,
                 tie_rule='pessimistic', fp16=False, post_processor=None,
                 v2t_protocol='video_max', share_similarity=True):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.evaluation = RetrievalEvaluation(query_chunk_size, tie_rule, post_processor,
                                              v2t_protocol, share_similarity)

    def run(self):
        return self.evaluation.run(self, 'val')


@LOOPS.register_module()
class RetrievalTestLoop(TestLoop):
    """Test loop for text-video retrieval; arguments as :class:`RetrievalValLoop`, plus
    ``allow_missing_reranker``.

    Args:
        runner (Runner): the runner.
        dataloader (dict | DataLoader): the test dataloader (one item per video).
        evaluator (dict | list | Evaluator): usually ``TextVideoRetrievalMetric``.
        query_chunk_size (int): queries scored at once per rank. Defaults to 32.
        tie_rule (str): how ties with the ground truth count: ``'pessimistic'`` (default, all
            tied negatives rank above), ``'optimistic'``, ``'mean'``, or ``'clip4clip'`` (the
            official evaluation's counting, for reproducing its figures exactly), see
            :func:`mmdret.evaluation.functional.ground_truth_ranks`.
        fp16 (bool): autocast feature extraction. Defaults to False.
        post_processor (dict, optional): score post-processing before ranking (``DualSoftmax``,
            ``QueryBankNorm``), see :class:`RetrievalEvaluation`. Defaults to None (none).
        v2t_protocol (str): video-to-text on multi-caption test sets: ``'video_max'``
            (default, the published protocol: a video query ranks the videos, each scored by
            its best caption) or ``'caption'`` (its best caption among all captions of the
            other videos), see :func:`mmdret.evaluation.functional.ranking_inputs`.
        allow_missing_reranker (bool): a model with a re-ranker (DiffusionRet stage 2) whose
            loaded checkpoint lacks re-ranker weights (e.g. a stage-1 checkpoint) would score
            with randomly initialised denoisers; the test stops at start naming the checkpoint
            unless this is True. Defaults to False.
        share_similarity (bool): for models whose directions share the stage-1 similarity
            (DiffusionRet), compute it once and serve video-to-text from its columns (scores
            unchanged; holds texts x local videos floats per rank), see
            :class:`~mmdret.engine.runner.query_scoring.QueryChunkScorer`. False scores each
            direction separately. Defaults to True.
    """

    def __init__(self, runner, dataloader, evaluator, query_chunk_size=32,
                 tie_rule='pessimistic', fp16=False, post_processor=None,
                 v2t_protocol='video_max', allow_missing_reranker=False,
                 share_similarity=True):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.evaluation = RetrievalEvaluation(query_chunk_size, tie_rule, post_processor,
                                              v2t_protocol, share_similarity)
        self.allow_missing_reranker = allow_missing_reranker
        self.missing_reranker_keys = None  # set when a checkpoint is loaded
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(model, 'reranker', None) is not None:
            model.register_load_state_dict_post_hook(self._note_missing_reranker_keys)

    def _note_missing_reranker_keys(self, module, incompatible_keys):
        self.missing_reranker_keys = [key for key in incompatible_keys.missing_keys
                                      if key.startswith('reranker.')]

    def run(self):
        if self.missing_reranker_keys and not self.allow_missing_reranker:
            raise ValueError(
                f'checkpoint {self.runner.cfg.get("load_from")} has no weights for '
                f'{len(self.missing_reranker_keys)} re-ranker tensors of this stage-2 model '
                f'(e.g. {self.missing_reranker_keys[0]}): it would score with random denoisers. '
                'Test the stage-2 checkpoint, or a stage-1 config; to score anyway set '
                'test_cfg.allow_missing_reranker=True (tools/test.py --allow-missing-reranker).')
        return self.evaluation.run(self, 'test')
