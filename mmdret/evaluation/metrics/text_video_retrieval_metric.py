import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmdret.evaluation.functional import recall_metrics
from mmdret.registry import METRICS

DIRECTIONS = ('t2v', 'v2t')


def format_table(metrics, ks):
    """A Markdown table of the retrieval metrics, one row per direction present.

    Args:
        metrics (dict[str, float]): metrics named ``<direction>_<key>``, e.g. ``t2v_R1``,
            ``v2t_MdR``.
        ks (Sequence[int]): the recall cut-offs, one ``R@k`` column each.

    Returns:
        str: the table, with ``MdR`` and ``MnR`` columns after the recalls.
    """
    columns = [f'R@{k}' for k in ks] + ['MdR', 'MnR']
    keys = [f'R{k}' for k in ks] + ['MdR', 'MnR']
    lines = ['| direction | ' + ' | '.join(columns) + ' |',
             '|---|' + '---|' * len(columns)]
    for direction in DIRECTIONS:
        if f'{direction}_R1' in metrics or f'{direction}_{keys[0]}' in metrics:
            values = ' | '.join(f'{metrics[f"{direction}_{key}"]:.1f}' for key in keys)
            lines.append(f'| {direction} | {values} |')
    return '\n'.join(lines)


@METRICS.register_module()
class TextVideoRetrievalMetric(BaseMetric):
    """R@K, MdR, MnR and Rsum for text->video and video->text from per-query ranks.

    Works with :class:`mmdret.engine.RetrievalTestLoop`, which scores each rank's own queries
    and passes ``dict(direction, query_idx, rank)`` records; the metric keeps one record per
    (direction, query) so that sampler padding never counts twice. Ranks are 0-based and follow
    the loop's tie rule (see :func:`mmdret.evaluation.functional.ground_truth_ranks`). A record
    with a ``tied`` count (the loop's ``tie_rule='clip4clip'``) stands for the ``tied + 1``
    entries ``rank, rank + 1, ..., rank + tied``, and R@K, MdR and MnR are taken over all
    entries, as the official ``compute_metrics`` does.

    Args:
        ks (Sequence[int]): recall cut-offs. Defaults to (1, 5, 10).
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): metric name prefix. Defaults to ``'retrieval'``.
    """
    default_prefix = 'retrieval'

    def __init__(self, ks=(1, 5, 10), collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ks = tuple(ks)

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        ranks = {direction: {} for direction in DIRECTIONS}
        for record in results:
            entries = record['rank'] + np.arange(record.get('tied', 0) + 1)
            ranks[record['direction']][record['query_idx']] = entries
        metrics = {}
        for direction, by_query in ranks.items():
            if not by_query:
                continue
            entries = np.concatenate(list(by_query.values()))
            for key, value in recall_metrics(entries, self.ks).items():
                metrics[f'{direction}_{key}'] = value
            metrics[f'{direction}_num_queries'] = len(by_query)
        metrics['Rsum'] = sum(value for key, value in metrics.items()
                              if key.split('_')[-1] in {f'R{k}' for k in self.ks})
        print_log('\n' + format_table(metrics, self.ks), logger='current')
        return metrics
