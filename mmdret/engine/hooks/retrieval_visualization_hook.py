import os.path as osp

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from PIL import Image

from mmdret.evaluation.functional import DIRECTIONS, positives_for
from mmdret.registry import HOOKS
from mmdret.utils.distributed import first_occurrence
from mmdret.visualization import (plot_diffusion_trajectory, plot_rank_histogram,
                                  plot_similarity_heatmap)


def _merge_rows(parts):
    """Rows of ``(index (N,), values (N, ...))`` parts from all ranks, one per index, sorted."""
    index = torch.cat([part[0] for part in parts])
    values = torch.cat([part[1] for part in parts])
    unique, first = first_occurrence(index)
    return unique, values[first]


@HOOKS.register_module()
class RetrievalVisualizationHook(Hook):
    """Figures of a retrieval evaluation, written as PNG after validation and test.

    Works with :class:`mmdret.engine.RetrievalValLoop` / ``RetrievalTestLoop``, whose
    ``after_{val,test}_chunk`` hook point hands over each scored query chunk: the hook keeps the
    ground-truth ranks and a bounded block of the scores, never the full score matrix. When the
    model has a diffusion re-ranker (DiffusionRet stage 2) it also records, through the
    re-ranker's ``trajectory_observer``, the candidate distribution at every sampling step of a
    few queries. After the epoch the records of all ranks are gathered and rank 0 writes, into
    ``<out_dir>/<epoch_N | iter_N | test>/``, per direction (``t2v``, ``v2t``):

    * ``heatmap_<dir>.png``: scores of the queries with global index < ``block_size`` against the
      candidates with global index < ``block_size``;
    * ``rank_histogram_<dir>.png``: the 1-based ground-truth ranks of all queries;
    * ``trajectory_<dir>_<query>.png``: the distribution over the query's re-ranked candidates
      per sampling step, ground truth marked (queries with index < ``num_trajectories``).

    Example::

        custom_hooks = [dict(type='RetrievalVisualizationHook', interval=1, block_size=32)]

    Args:
        interval (int): write after every ``interval``-th validation; test runs always write.
            Defaults to 1.
        block_size (int): side of the score block of the heatmap. Defaults to 32.
        num_trajectories (int): queries per direction whose diffusion trajectory is drawn
            (0: none). Defaults to 4.
        out_dir (str, optional): root of the figures. Defaults to ``<work_dir>/vis``.
        by_epoch (bool): name validation folders ``epoch_<runner.epoch>`` (True) or
            ``iter_<runner.iter>`` (False, iteration-based training). Defaults to True.
        save_arrays (bool): save the plotted data next to each PNG (``.npy`` heatmap block and
            ranks, ``.npz`` trajectory with its candidates and ground truth). Defaults to True.
        add_to_visualizer (bool): also pass the images to ``runner.visualizer.add_image``, so
            TensorBoard / W&B backends show them. Defaults to True.
    """

    def __init__(self, interval=1, block_size=32, num_trajectories=4, out_dir=None,
                 by_epoch=True, save_arrays=True, add_to_visualizer=True):
        if interval < 1 or block_size < 1 or num_trajectories < 0:
            raise ValueError('interval and block_size must be >= 1 and num_trajectories >= 0, '
                             f'got {interval}, {block_size}, {num_trajectories}')
        self.interval = interval
        self.block_size = block_size
        self.num_trajectories = num_trajectories
        self.out_dir = out_dir
        self.by_epoch = by_epoch
        self.save_arrays = save_arrays
        self.add_to_visualizer = add_to_visualizer
        self._num_val = 0
        self._records = None  # per direction while an evaluation is recorded, else None
        self._reranker = None
        self._pending = None

    # -- recording ---------------------------------------------------------------------------
    def before_val_epoch(self, runner):
        self._num_val += 1
        if self._num_val % self.interval == 0:
            self._start(runner)

    def before_test_epoch(self, runner):
        self._start(runner)

    def _start(self, runner):
        self._records = {direction: dict(ranks=[], block=[], trajectories=[])
                         for direction, _, _ in DIRECTIONS}
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        reranker = getattr(model, 'reranker', None)
        if self.num_trajectories and hasattr(reranker, 'trajectory_observer'):
            self._reranker = reranker
            reranker.trajectory_observer = self._observe

    def _observe(self, direction, queries, candidates, top, distributions):
        # Post-processors score queries while fitting too: only the call that scored the chunk
        # handed to the hook point right after it is kept (see _record).
        self._pending = (queries, top, distributions)

    def after_val_chunk(self, runner, **chunk):
        self._record(**chunk)

    def after_test_chunk(self, runner, **chunk):
        self._record(**chunk)

    def _record(self, direction, queries, candidates, scores, ranks):
        pending, self._pending = self._pending, None
        if self._records is None:
            return
        records = self._records[direction]
        index = queries['index'].cpu()
        records['ranks'].append((index, ranks.cpu()))
        rows = index < self.block_size
        if rows.any():
            columns = candidates['index'] < self.block_size
            block = scores[rows.to(scores.device)][:, columns.to(scores.device)]
            records['block'].append((index[rows], block.float().cpu()))
        if pending is None or pending[0] is not queries:
            return
        _, top, distributions = pending
        positives = positives_for(direction, queries, candidates).gather(1, top)
        for row in (index < self.num_trajectories).nonzero()[:, 0].tolist():
            records['trajectories'].append(dict(
                query=int(index[row]), distributions=distributions[row].float().cpu(),
                candidates=candidates['index'][top[row]].cpu(), positives=positives[row].cpu()))

    # -- writing -----------------------------------------------------------------------------
    def after_val_epoch(self, runner, metrics=None):
        step = runner.epoch if self.by_epoch else runner.iter
        self._finish(runner, f'{"epoch" if self.by_epoch else "iter"}_{step}', step)

    def after_test_epoch(self, runner, metrics=None):
        self._finish(runner, 'test', 0)

    def _finish(self, runner, name, step):
        if self._reranker is not None:
            self._reranker.trajectory_observer = None
            self._reranker = None
        if self._records is None:
            return
        local, self._records = self._records, None
        # Ranks are a few floats per query and the block is bounded: gathering them is cheap.
        parts = all_gather_object(local) if get_world_size() > 1 else [local]
        if not is_main_process():
            return
        out_dir = osp.join(self.out_dir or osp.join(runner.work_dir, 'vis'), name)
        paths = []
        for direction, query_modality, candidate_modality in DIRECTIONS:
            paths += self._write_direction(out_dir, direction, query_modality,
                                           candidate_modality, [part[direction] for part in parts])
        if not paths:
            runner.logger.warning(f'{type(self).__name__}: nothing to draw; it needs '
                                  'RetrievalValLoop / RetrievalTestLoop (val_cfg / test_cfg)')
            return
        if self.add_to_visualizer:
            for path in paths:
                image = np.asarray(Image.open(path).convert('RGB'))
                runner.visualizer.add_image(
                    f'retrieval_{osp.splitext(osp.basename(path))[0]}', image, step)
        runner.logger.info(f'{len(paths)} retrieval figures written to {out_dir}')

    def _write_direction(self, out_dir, direction, query_modality, candidate_modality, records):
        paths = []
        rank_rows = [row for record in records for row in record['ranks']]
        if rank_rows:
            _, ranks = _merge_rows(rank_rows)
            paths.append(plot_rank_histogram(
                ranks + 1, osp.join(out_dir, f'rank_histogram_{direction}.png'), title=direction))
            self._save(osp.join(out_dir, f'rank_histogram_{direction}.npy'), ranks.numpy())
        block_rows = [row for record in records for row in record['block']]
        if block_rows:
            _, block = _merge_rows(block_rows)
            paths.append(plot_similarity_heatmap(
                block, osp.join(out_dir, f'heatmap_{direction}.png'), xlabel=candidate_modality,
                ylabel=query_modality,
                title=f'{direction} scores, first {block.shape[0]} x {block.shape[1]}'))
            self._save(osp.join(out_dir, f'heatmap_{direction}.npy'), block.numpy())
        trajectories = {item['query']: item for record in records
                        for item in record['trajectories']}
        for query in sorted(trajectories):
            item = trajectories[query]
            stem = f'trajectory_{direction}_{query}'
            paths.append(plot_diffusion_trajectory(
                item['distributions'], osp.join(out_dir, f'{stem}.png'),
                labels=[f'{candidate_modality} {int(i)}' for i in item['candidates']],
                positives=item['positives'], ylabel='p(candidate)',
                title=f'{direction}: {query_modality} {query}'))
            self._save(osp.join(out_dir, f'{stem}.npz'),
                       {key: value.numpy() for key, value in item.items() if key != 'query'})
        return paths

    def _save(self, path, data):
        """An array as ``.npy``, a dict of arrays as ``.npz`` (with ``save_arrays``)."""
        if not self.save_arrays:
            return
        if isinstance(data, dict):
            np.savez(path, **data)
        else:
            np.save(path, data)
