"""tools/analysis/benchmark_diffusionret.py: its evaluation goes through the package's scoring
and reproduces the stored reference rankings; the docs section is replaced, not repeated; the
device options run on the CPU (the CUDA path differs only in the device) and refuse a missing
GPU at start."""
import numpy as np
import pytest
import torch

from tool_loader import load_tool


@pytest.fixture(scope='module')
def bench():
    return load_tool('analysis', 'benchmark_diffusionret.py')


def test_quick_evaluation_matches_reference_and_per_direction(bench, tmp_path):
    docs = tmp_path / 'benchmarks.md'
    docs.write_text('# Benchmarks\n\nkept text\n')
    argv = ['--quick', '--threads', '1', '--docs', str(docs), '--docs-label', 'quick test',
            '--skip', 'train', '--processes', '2']
    results = bench.main(argv)
    assert results['reference'].startswith('identical to the stored reference')
    assert results['processes']['equal']
    reference = np.load(bench.REFERENCE)
    for direction in ('t2v', 'v2t'):
        assert np.array_equal(results['out']['ranks'][direction].numpy(),
                              reference[f'quick.{direction}_ranks'])
    # Executed arithmetic counts the similarity once (it is shared by both directions).
    assert results['flops']['wti_executed'] == results['flops']['wti_once']
    bench.main(argv)  # a second run replaces its section
    text = docs.read_text()
    assert text.count('### quick test') == 1 and 'kept text' in text
    assert 'Rankings | identical to the stored reference' in text


def test_changed_rankings_are_refused(bench, monkeypatch):
    args = bench.parse_args(['--quick'])
    good = dict(ranks={d: torch.from_numpy(np.load(bench.REFERENCE)[f'quick.{d}_ranks'])
                       for d in ('t2v', 'v2t')},
                top={d: torch.from_numpy(np.load(bench.REFERENCE)[f'quick.{d}_top10'])
                     for d in ('t2v', 'v2t')})
    assert bench.check_reference(args, good).startswith('identical')
    good['top']['v2t'] = good['top']['v2t'].flip(1)
    with pytest.raises(AssertionError, match='v2t rankings differ'):
        bench.check_reference(args, good)
    other = bench.parse_args(['--quick', '--topk', '4'])
    assert bench.check_reference(other, good).startswith('not checked')


def test_device_and_training_options_on_cpu(bench):
    results = bench.main(['--quick', '--no-docs', '--skip', 'eval', '--stage1-train',
                          '--device', 'cpu', '--stage1-batch', '4', '--train-batch', '4'])
    assert results['stage1_fp32'] > 0 and results['stage1_bf16'] > 0
    assert results['train_cached'] > 0 and results['train_encoded'] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the refusal without a GPU')
def test_missing_gpu_is_refused_at_start(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(['--device', 'cuda'])
    assert '--device cuda: torch sees no CUDA device' in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_quick_evaluation_on_cuda(bench):
    results = bench.main(['--quick', '--no-docs', '--skip', 'train', '--device', 'cuda',
                          '--no-per-direction'])
    assert results['device_peak'] > 0
