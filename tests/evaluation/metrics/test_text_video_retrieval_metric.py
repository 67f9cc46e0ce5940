"""TextVideoRetrievalMetric: per-(direction, query) dedup, R@K/MdR/MnR and Rsum."""
import pytest

from mmdret.evaluation.metrics import TextVideoRetrievalMetric
from mmdret.registry import METRICS


def records(direction, ranks):
    return [dict(direction=direction, query_idx=i, rank=float(r)) for i, r in enumerate(ranks)]


def evaluate(metric, batches):
    count = 0
    for batch in batches:
        metric.process(None, batch)
        count += len(batch)
    return metric.evaluate(count)


def test_hand_numbers_and_rsum():
    metric = TextVideoRetrievalMetric()
    t2v = records('t2v', [0, 1, 4, 10])
    v2t = records('v2t', [0, 0, 2, 30])
    out = evaluate(metric, [t2v[:2] + v2t[:3], t2v[2:] + v2t[3:]])
    expected = {'t2v_R1': 25.0, 't2v_R5': 75.0, 't2v_R10': 75.0, 't2v_MdR': 3.5,
                't2v_MnR': 4.75, 't2v_num_queries': 4,
                'v2t_R1': 50.0, 'v2t_R5': 75.0, 'v2t_R10': 75.0, 'v2t_MdR': 2.0,
                'v2t_MnR': 9.0, 'v2t_num_queries': 4}
    expected['Rsum'] = 25 + 75 + 75 + 50 + 75 + 75
    assert out == pytest.approx({f'retrieval/{k}': v for k, v in expected.items()})


def test_duplicate_records_count_once():
    # Sampler padding repeats queries 0 and 1 (same rank) on another rank's shard.
    t2v = records('t2v', [0, 1, 4, 10])
    padded = t2v + [dict(t2v[0]), dict(t2v[1]), dict(t2v[0])]
    out = evaluate(TextVideoRetrievalMetric(), [padded])
    out = {k.removeprefix('retrieval/'): v for k, v in out.items()}
    assert out['t2v_num_queries'] == 4
    assert out['t2v_R1'] == pytest.approx(25.0)  # would be 3/7 with duplicates
    assert out['t2v_MnR'] == pytest.approx(4.75)
    assert 'v2t_R1' not in out
    assert out['Rsum'] == pytest.approx(25 + 75 + 75)


def test_custom_ks_and_registry():
    metric = METRICS.build(dict(type='TextVideoRetrievalMetric', ks=(1, 50)))
    out = evaluate(metric, [records('t2v', [0, 49, 50]) + records('v2t', [1, 2, 3])])
    assert out['retrieval/t2v_R50'] == pytest.approx(200 / 3)
    assert out['retrieval/v2t_R1'] == 0.0
    assert 'retrieval/t2v_R5' not in out
    assert out['retrieval/Rsum'] == pytest.approx(100 / 3 + 200 / 3 + 0 + 100)


def test_tied_records_count_every_tied_position():
    # tie_rule='clip4clip': query 0 ties its ground truth with 2 negatives -> entries 0, 1, 2;
    # query 1 ranks 4 with no tie. Padding copies still count once.
    t2v = [dict(direction='t2v', query_idx=0, rank=0.0, tied=2),
           dict(direction='t2v', query_idx=1, rank=4.0, tied=0)]
    out = evaluate(TextVideoRetrievalMetric(), [t2v + [dict(t2v[0])]])
    assert out['retrieval/t2v_R1'] == pytest.approx(25.0)
    assert out['retrieval/t2v_R5'] == pytest.approx(100.0)
    assert out['retrieval/t2v_MdR'] == pytest.approx(2.5)
    assert out['retrieval/t2v_MnR'] == pytest.approx(2.75)
    assert out['retrieval/t2v_num_queries'] == 2
