"""DualSoftmax against the dense formula S * softmax(temp * S, dim=0) (queries x candidates)."""
import pytest
import torch

from mmdret.evaluation.post_processors import DualSoftmax


def dense_dsl(scores, temperature=100.0):
    # The common (CAMoE / X-Pool --DSL) form on the full (queries x candidates) matrix.
    scores = scores.double()
    return scores * torch.softmax(scores * temperature, dim=0)


def chunks(matrix, size):
    return [matrix[i:i + size] for i in range(0, matrix.shape[0], size)]


@pytest.mark.parametrize('temperature', [1.0, 100.0])
def test_chunked_equals_dense(temperature):
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(11, 6, generator=gen) * 2 - 1  # cosine-like range
    dsl = DualSoftmax(temperature).fit(chunks(scores, 4))
    out = torch.cat([dsl(chunk) for chunk in chunks(scores, 3)])
    assert out.dtype == scores.dtype and out.shape == scores.shape
    torch.testing.assert_close(out.double(), dense_dsl(scores, temperature), rtol=1e-5,
                               atol=1e-7)


def test_prior_is_over_queries():
    # One candidate column strongly preferred by query 0 gets down-weighted for query 1.
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
    out = DualSoftmax(temperature=10.0).fit([scores])(scores)
    column = torch.softmax(10.0 * scores.double(), dim=0)
    torch.testing.assert_close(out.double(), scores.double() * column)
    assert torch.allclose(column.sum(0), torch.ones(2, dtype=torch.float64))


def test_errors():
    dsl = DualSoftmax()
    with pytest.raises(RuntimeError, match='before fit'):
        dsl(torch.zeros(2, 3))
    dsl.fit([torch.zeros(2, 3)])
    with pytest.raises(ValueError, match='3 candidates'):
        dsl(torch.zeros(2, 4))
    with pytest.raises(ValueError, match='earlier chunks'):
        DualSoftmax().fit([torch.zeros(2, 3), torch.zeros(2, 4)])
