import time

import torch
from mmengine.dist import all_reduce, get_rank
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop

from mmdret.evaluation.functional import extract_features, ground_truth_ranks, slice_features
from mmdret.evaluation.post_processors import ScorePostProcessing
from mmdret.registry import LOOPS
from mmdret.utils.distributed import gather_indexed

# (direction, query modality, candidate modality)
DIRECTIONS = (('t2v', 'text', 'video'), ('v2t', 'video', 'text'))


def sum_over_ranks(value):
    total = torch.tensor(value)
    all_reduce(total)
    return int(total)


def positives_for(direction, queries, candidates):
    if direction == 't2v':
        return queries['video_index'][:, None] == candidates['index'][None, :]
    return queries['index'][:, None] == candidates['video_index'][None, :]


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
    """

    def __init__(self, query_chunk_size=32, tie_rule='pessimistic', post_processor=None):
        self.query_chunk_size = query_chunk_size
        self.tie_rule = tie_rule
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
        if self.post_processing is not None:
            self.post_processing.start()
        for direction, query_modality, candidate_modality in DIRECTIONS:
            queries, candidates = local[query_modality], gathered[candidate_modality]
            total = queries['index'].numel()
            started = time.time()
            post = (None if self.post_processing is None else
                    self.post_processing.fitted(direction, model, queries, candidates, fp16))
            for start in range(0, total, self.query_chunk_size):
                chunk = slice_features(queries, slice(start, start + self.query_chunk_size))
                with torch.no_grad():
                    scores = model.score(direction, chunk, candidates)
                    if post is not None:
                        scores = post(scores)
                ranks = ground_truth_ranks(scores.float(), positives_for(direction, chunk,
                                                                         candidates),
                                           self.tie_rule)
                records.extend(dict(direction=direction, query_idx=int(index), rank=float(rank))
                               for index, rank in zip(chunk['index'], ranks))
                if on_chunk is not None:
                    on_chunk(direction=direction, queries=chunk, candidates=candidates,
                             scores=scores, ranks=ranks)
            runner.logger.info(f'[rank {get_rank()}] scored {total} {direction} queries against '
                               f'{candidates["index"].numel()} candidates in '
                               f'{time.time() - started:.1f}s'
                               + ('' if post is None else f' (post-processed by {post!r})'))
        # Counted on the gathered gallery, where sampler padding is already removed.
        return records, int(gathered['video']['corrupt'].sum())


@LOOPS.register_module()
class RetrievalValLoop(ValLoop):
    """Validation loop for text-video retrieval (sharded, chunked, both directions).

    Args:
        runner (Runner): the runner.
        dataloader (dict | DataLoader): the validation dataloader (one item per video).
        evaluator (dict | list | Evaluator): usually ``TextVideoRetrievalMetric``.
        query_chunk_size (int): queries scored at once per rank. Defaults to 32.
        tie_rule (str): how ties with the ground truth count, see
            :func:`mmdret.evaluation.functional.ground_truth_ranks`. Defaults to 'pessimistic'.
        fp16 (bool): autocast feature extraction. Defaults to False.
        post_processor (dict, optional): score post-processing before ranking (``DualSoftmax``,
            ``QueryBankNorm``), see :class:`RetrievalEvaluation`. Defaults to None (none).
    """

    def __init__(self, runner, dataloader, evaluator, query_chunk_size=32,
                 tie_rule='pessimistic', fp16=False, post_processor=None):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.evaluation = RetrievalEvaluation(query_chunk_size, tie_rule, post_processor)

    def run(self):
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        metrics = self.evaluation(self, 'val')
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics


@LOOPS.register_module()
class RetrievalTestLoop(TestLoop):
    """Test loop for text-video retrieval; arguments as :class:`RetrievalValLoop`."""

    def __init__(self, runner, dataloader, evaluator, query_chunk_size=32,
                 tie_rule='pessimistic', fp16=False, post_processor=None):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.evaluation = RetrievalEvaluation(query_chunk_size, tie_rule, post_processor)

    def run(self):
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        metrics = self.evaluation(self, 'test')
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics
