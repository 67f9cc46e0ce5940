import torch

from mmdret.registry import TASK_UTILS
from .base_post_processor import BaseScorePostProcessor, ColumnLogSumExp


@TASK_UTILS.register_module()
class DualSoftmax(BaseScorePostProcessor):
    """Dual softmax (DSL) inference re-weighting (CAMoE, arXiv 2109.04290; X-Pool/T-MASS code).

    For a direction with scores ``S`` (queries x candidates)::

        S'[q, c] = S[q, c] * softmax_q(temperature * S)[q, c]
                 = S[q, c] * exp(temperature * S[q, c] - logsumexp_q'(temperature * S[q', c]))

    The softmax runs over the *query* axis (dim 0, all queries of the direction, e.g. every test
    caption for text->video), so each candidate's prior says how strongly it prefers this query
    over the others; the common formulation ``sims * softmax(sims * 100, axis=0)`` on the
    (texts x videos) matrix for t2v and on its transpose for v2t. The per-candidate normaliser
    needs all queries: :meth:`fit` accumulates it over chunks (and ranks) first, so the evaluation
    scores every query twice.

    Args:
        temperature (float): the inverse temperature of the prior. Defaults to 100 (CAMoE,
            X-Pool ``--DSL``).
    """
    fit_on = 'queries'

    def __init__(self, temperature=100.0):
        self.temperature = float(temperature)
        self.reset()

    def reset(self):
        self._normaliser = ColumnLogSumExp()
        self.log_normaliser = None

    def partial_fit(self, scores):
        """Add a chunk of the direction's queries to the per-candidate normaliser.

        Args:
            scores (Tensor): ``(Q_i, C)`` scores of the chunk.
        """
        self._normaliser.update(scores.double() * self.temperature)

    def sync(self, num_candidates=None):
        """Combine the normalisers of all ranks.

        Args:
            num_candidates (int, optional): C, needed when this rank fitted no rows. Defaults to
                None.
        """
        self.log_normaliser = self._normaliser.sync(num_candidates)
        return self

    def __call__(self, scores):
        self._check_fitted(self.log_normaliser, scores, type(self).__name__)
        logits = scores.double() * self.temperature
        prior = torch.exp(logits - self.log_normaliser.to(scores.device)[None])
        return (scores.double() * prior).to(scores.dtype)

    def __repr__(self):
        return f'{type(self).__name__}(temperature={self.temperature})'
