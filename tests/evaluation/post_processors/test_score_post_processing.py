"""ScorePostProcessing names the query banks it needs and fits on features handed to it."""
import pytest
import torch

from mmdret.evaluation.post_processors import ScorePostProcessing
from mmdret.utils import register_all_modules

register_all_modules()
QBN = dict(type='QueryBankNorm', mode='is', beta=1.0, query_bank=dict(dataloader='bank loader'))


class DotModel:

    def score(self, direction, queries, candidates):
        return queries['emb'] @ candidates['emb'].t()


def test_bank_dataloaders_lists_each_distinct_bank_once():
    assert ScorePostProcessing(dict(type='DualSoftmax'), 4).bank_dataloaders() == {}
    same = ScorePostProcessing(QBN, 4)
    assert list(same.bank_dataloaders().values()) == ['bank loader']
    assert same.bank_key('t2v') == same.bank_key('v2t')
    other = dict(QBN, query_bank=dict(dataloader='other loader'))
    mixed = ScorePostProcessing(dict(t2v=QBN, v2t=other), 4)
    assert sorted(mixed.bank_dataloaders().values()) == ['bank loader', 'other loader']
    assert ScorePostProcessing(dict(t2v=QBN, v2t=None), 4).bank_key('v2t') is None


def test_query_bank_processor_fits_on_the_handed_bank_features():
    processing = ScorePostProcessing(QBN, 4)
    candidates = dict(index=torch.arange(3), emb=torch.eye(3))
    bank = dict(text=dict(index=torch.arange(2), emb=torch.tensor([[1., 0, 0], [0, 1, 0]])))
    with pytest.raises(ValueError, match='query bank'):
        processing.fitted('t2v', DotModel(), None, candidates)
    fitted = processing.fitted('t2v', DotModel(), None, candidates,
                               banks={processing.bank_key('t2v'): bank})
    # logsumexp over the two bank rows of each candidate column: e^1 + e^0, e^0 + e^1, 2 e^0.
    expected = torch.log(torch.tensor([torch.e + 1, torch.e + 1, 2.0])).double()
    torch.testing.assert_close(fitted.log_normaliser, expected)
