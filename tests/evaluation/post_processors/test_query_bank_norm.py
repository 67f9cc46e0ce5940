"""QueryBankNorm against a dense numpy transcription of the QB-Norm (DIS / IS) formulas."""
import numpy as np
import pytest
import torch

from mmdret.evaluation.post_processors import QueryBankNorm


def dense_qb_norm(bank, test, beta=20.0, k=1, dynamic=True):
    """Dense reference: IS = exp(beta*S) / sum_bank exp(beta*S_bank); DIS applies it only to the
    queries whose top-1 candidate is among the top-k candidates of some bank query."""
    retrieved = np.unique(np.argsort(-bank, axis=1)[:, :k].reshape(-1))
    normalizing_sum = np.exp(bank * beta).sum(axis=0)
    rows = np.isin(np.argsort(-test, axis=1)[:, 0], retrieved) if dynamic else \
        np.ones(len(test), bool)
    out = test.copy()
    out[rows] = np.exp(test[rows] * beta) / normalizing_sum
    return out, rows


def make(seed, bank_rows=9, test_rows=12, candidates=7, hubs=1):
    gen = torch.Generator().manual_seed(seed)
    bank = torch.rand(bank_rows, candidates, generator=gen, dtype=torch.float64) * 2 - 1
    test = torch.rand(test_rows, candidates, generator=gen, dtype=torch.float64) * 2 - 1
    # The first `hubs` candidates are hubs for the bank, so the DIS split is non-trivial.
    bank[:, :hubs] += 1.0
    return bank, test


def apply(qbn, test, size=5):
    return torch.cat([qbn(test[i:i + size]) for i in range(0, len(test), size)])


@pytest.mark.parametrize('k', [1, 2])
@pytest.mark.parametrize('mode', ['dis', 'is'])
def test_matches_dense_reference(k, mode):
    bank, test = make(k, hubs=k)
    qbn = QueryBankNorm(beta=20.0, k=k, mode=mode)
    qbn.fit([bank[:4], bank[4:]])
    out = apply(qbn, test).numpy()
    ref, rows = dense_qb_norm(bank.numpy(), test.numpy(), 20.0, k, dynamic=mode == 'dis')
    if mode == 'dis':
        assert 0 < rows.sum() < len(rows)  # both kinds of rows are exercised
    np.testing.assert_allclose(np.exp(out[rows]), ref[rows], rtol=1e-10)  # log-space IS
    np.testing.assert_array_equal(out[~rows], ref[~rows])  # raw scores kept
    np.testing.assert_array_equal(np.argsort(-out, axis=1), np.argsort(-ref, axis=1))


def test_activation_set_and_normaliser():
    bank = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.3, 0.1]])
    qbn = QueryBankNorm(beta=2.0).fit([bank])
    assert qbn.active.tolist() == [True, False, False]
    torch.testing.assert_close(qbn.log_normaliser, torch.logsumexp(2.0 * bank.double(), 0))
    test = torch.tensor([[0.5, 0.4, 0.0], [0.1, 0.7, 0.2]])
    out = qbn(test)
    torch.testing.assert_close(out[0], 2.0 * test[0] - qbn.log_normaliser.float())
    assert torch.equal(out[1], test[1])  # top-1 (candidate 1) is not in the activation set


def test_errors():
    with pytest.raises(ValueError, match='mode'):
        QueryBankNorm(mode='x')
    with pytest.raises(ValueError, match='empty'):
        QueryBankNorm().fit([], num_candidates=3)
    with pytest.raises(RuntimeError, match='before fit'):
        QueryBankNorm()(torch.zeros(1, 3))
