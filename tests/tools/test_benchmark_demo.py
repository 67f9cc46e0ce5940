"""The demo benchmark's report: per-seed rows, mean and range, step times, stage-2 gain, and its
section of the benchmarks page replaced rather than appended on a second run."""
import re

from tool_loader import load_tool

bench = load_tool('analysis', 'benchmark_demo.py')
MACHINE = dict(cpu='Test CPU', logical_cpus=2, isa='flags avx2, torch kernels AVX2', threads=2,
               torch='2.x', python='3.11', load='0.1 0.1 0.1')


def summary(seed, r1, total):
    metrics = {}
    for offset, model in enumerate(bench.MODELS):
        metrics[model] = {f'retrieval/{d}_{m}': r1 + offset + (50 if m == 'R5' else 0) + i
                          for i, d in enumerate(('t2v', 'v2t')) for m in ('R1', 'R5')}
    timings = {step: 10.0 * (seed + 1) for step in bench.STEPS}
    timings['total'] = total
    return dict(seed=seed, timings=timings, metrics=metrics)


def test_report_rows_mean_range_and_gain():
    text = bench.markdown([summary(0, 40, 280), summary(1, 44, 290), summary(2, 48, 300)],
                          MACHINE)
    assert 'Test CPU, 2 logical CPUs, flags avx2, torch kernels AVX2, 2 torch threads' in text
    rows = {line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:-1]]
            for line in text.splitlines() if line.startswith('| ') and 'seed' not in line}
    # Columns: R@1 stage1 t2v, stage1 v2t, stage2 t2v, stage2 v2t, then R@5 alike, total.
    assert rows['0'] == ['40.0', '41.0', '41.0', '42.0', '90.0', '91.0', '91.0', '92.0', '280']
    assert rows['mean'][0] == '44.0' and rows['mean'][-1] == '290.0'
    assert rows['min-max'][0] == '40-48' and rows['min-max'][-1] == '280-300'
    assert 'stage 1 train 20' in text  # mean of 10, 20, 30
    assert re.search(r'R@1 over every seed and direction: \+1 to \+1 \(mean \+1\.0\)', text)


def test_docs_section_is_replaced(tmp_path):
    docs = tmp_path / 'benchmarks.md'
    docs.write_text('# Benchmarks\n\nkept\n')
    for total in (280, 290):
        bench.replace_docs_section(str(docs), bench.DOCS_MARK, 'Demo', 'cmd',
                                   bench.markdown([summary(0, 40, total)], MACHINE))
    text = docs.read_text()
    assert text.count('### Demo') == 1 and '| 290 |' in text and '| 280 |' not in text
    assert text.startswith('# Benchmarks\n\nkept\n')
