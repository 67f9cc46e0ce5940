import torch
from mmengine.dist import all_reduce

from mmdret.registry import TASK_UTILS
from .base_post_processor import BaseScorePostProcessor, ColumnLogSumExp

QB_NORM_MODES = ('dis', 'is')


@TASK_UTILS.register_module()
class QueryBankNorm(BaseScorePostProcessor):
    """Querybank normalisation (QB-Norm, Bogolin et al., CVPR 2022, arXiv 2112.12777).

    A query bank ``B`` of training queries is scored against the test gallery
    (``S_B``: |B| x C). Inverted softmax (IS) replaces a test query's score by::

        IS[q, c] = exp(beta * S[q, c]) / sum_b exp(beta * S_B[b, c])

    Dynamic inverted softmax (DIS, ``mode='dis'``, the paper's QB-Norm and the default) applies
    IS only to the test queries whose top-1 candidate lies in the activation set -- the gallery
    items among the top-``k`` retrievals of some bank query -- and keeps the raw scores of the
    other queries (as in the authors' ``dynamic_inverted_softmax.py``). ``mode='is'`` applies IS
    to every query.

    The normalised rows are returned in log space, ``beta * S[q, c] - logsumexp_b(beta *
    S_B[b, c])``, i.e. the logarithm of IS: the same per-query order without overflow. Only the
    order within a query row is meaningful (normalised and raw rows have different scales).

    Statistics kept: the per-candidate ``logsumexp`` over the bank and the activation set, both
    O(C), accumulated chunk by chunk and all-reduced over ranks.

    Args:
        query_bank (dict): where the bank comes from, read by the evaluation loop:
            ``dict(dataloader=dict(...))``, a dataloader config over the *training* split whose
            queries form the bank (e.g. the training dataset with ``test_mode=True``, which gives
            all training captions and videos; ``indices=N`` in the dataset bounds the bank). The
            text features are the bank for text->video, the video features for video->text.
        beta (float): inverse temperature. Defaults to 20 (paper).
        k (int): top-k of each bank query forming the activation set. Defaults to 1 (paper).
        mode (str): ``'dis'`` (default) or ``'is'``.
    """
    fit_on = 'query_bank'

    def __init__(self, query_bank=None, beta=20.0, k=1, mode='dis'):
        if mode not in QB_NORM_MODES:
            raise ValueError(f'mode must be one of {QB_NORM_MODES}, got {mode!r}')
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.query_bank = query_bank
        self.beta = float(beta)
        self.k = int(k)
        self.mode = mode
        self.reset()

    def reset(self):
        self._normaliser = ColumnLogSumExp()
        self.log_normaliser = None
        self.active = None

    def partial_fit(self, bank_scores):
        """Add a chunk of bank queries to the normaliser and the activation set.

        Args:
            bank_scores (Tensor): ``(B_i, C)`` scores of the chunk against the test gallery.
        """
        self._normaliser.update(bank_scores.double() * self.beta)
        if self.active is None:
            self.active = torch.zeros(bank_scores.shape[1], dtype=torch.bool,
                                      device=bank_scores.device)
        if bank_scores.shape[0]:
            k = min(self.k, bank_scores.shape[1])
            self.active[bank_scores.topk(k, dim=1).indices.flatten()] = True

    def sync(self, num_candidates=None):
        """Combine the statistics of all ranks.

        Args:
            num_candidates (int, optional): C, needed when this rank fitted no rows. Defaults to
                None.
        """
        self.log_normaliser = self._normaliser.sync(num_candidates)
        if self.active is None:
            self.active = torch.zeros(self.log_normaliser.shape[0], dtype=torch.bool)
        active = self.active.to(torch.int32)
        all_reduce(active, op='max')
        self.active = active.bool()
        if self._normaliser.num_rows == 0:
            raise ValueError('QueryBankNorm: the query bank is empty')
        return self

    def __call__(self, scores):
        self._check_fitted(self.log_normaliser, scores, type(self).__name__)
        normalised = (scores.double() * self.beta
                      - self.log_normaliser.to(scores.device)[None]).to(scores.dtype)
        if self.mode == 'is':
            return normalised
        use = self.active.to(scores.device)[scores.argmax(dim=1)]
        return torch.where(use[:, None], normalised, scores)

    def __repr__(self):
        fitted = ('' if self.log_normaliser is None else
                  f', fitted on {self._normaliser.num_rows} bank queries, '
                  f'{int(self.active.sum())} active candidates')
        return f'{type(self).__name__}(beta={self.beta}, k={self.k}, mode={self.mode!r}{fitted})'
