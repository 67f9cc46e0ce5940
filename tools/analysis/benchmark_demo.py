"""The demo's tables over several seeds and its wall time, with the machine they came from.

Runs ``tools/run_demo.py --seed S`` for each seed (each a fresh process tree, as a user runs it),
then reports R@1 / R@5 of both stages and both directions per seed, their mean and range, and
the wall time of each demo step. Training amplifies rounding differences, so the figures belong
to the machine's CPU kind (the vector extensions its kernels use are listed)::

    python tools/analysis/benchmark_demo.py [--seeds 0 1 2] [--docs docs/benchmarks.md]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from mmdret.utils.benchmark_docs import (machine_description, machine_summary,
                                         replace_docs_section)

ROOT = Path(__file__).resolve().parents[2]

DOCS_MARK = 'benchmark_demo'
MODELS = ('DiffusionRet stage 1', 'DiffusionRet stage 2')
COLUMNS = [(model, direction, metric) for metric in ('R1', 'R5') for model in MODELS
           for direction in ('t2v', 'v2t')]
STEPS = ('data', 'stage 1 train', 'feature cache', 'stage 2 train', 'stage 1 test',
         'stage 2 test', 'total')


def run_seed(seed, work_root, data_dir):
    """Run the demo with ``seed``; its summary (timings and metrics).

    Args:
        seed (int): Training seed of both stages.
        work_root (Path): Each seed works in ``work_root / f'seed{seed}'``.
        data_dir (str): Where the demo data is generated.

    Returns:
        dict: ``seed``, ``timings`` (seconds per step and ``total``), ``metrics`` per model.
    """
    work = work_root / f'seed{seed}'
    summary = work / 'summary.json'
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, 'tools/run_demo.py', '--seed', str(seed), '--work-dir',
                    str(work), '--data-dir', data_dir, '--summary', str(summary)],
                   cwd=ROOT, check=True)
    return json.loads(summary.read_text())


def value(summary, model, direction, metric):
    return summary['metrics'][model][f'retrieval/{direction}_{metric}']


def markdown(summaries, machine):
    """The report: machine, one row per seed, mean and range, then the step timings.

    Args:
        summaries (list[dict]): What :func:`run_seed` returned, one per seed.
        machine (dict): :func:`~mmdret.utils.benchmark_docs.machine_description` of the run.

    Returns:
        str: Markdown.
    """
    head = [f"{metric.replace('R', 'R@')} {model.split()[-2]} {model.split()[-1]} {direction}"
            for model, direction, metric in COLUMNS]
    lines = [f"Machine: {machine_summary(machine)}; load before the runs {machine['load']}.", '',
             '| seed | ' + ' | '.join(head) + ' | total (s) |',
             '|---:|' + '---:|' * (len(head) + 1)]
    for summary in summaries:
        cells = [f'{value(summary, *column):.1f}' for column in COLUMNS]
        lines.append(f"| {summary['seed']} | " + ' | '.join(cells) +
                     f" | {summary['timings']['total']:.0f} |")
    for name, reduce in (('mean', statistics.mean), ('min-max', None)):
        cells = []
        for column in (*COLUMNS, 'total'):
            values = [s['timings']['total'] if column == 'total' else value(s, *column)
                      for s in summaries]
            cells.append(f'{reduce(values):.1f}' if reduce else
                         f'{min(values):.0f}-{max(values):.0f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Wall time per step, mean over the seeds (s): ' + ', '.join(
        f"{step} {statistics.mean(s['timings'][step] for s in summaries):.0f}"
        for step in STEPS) + '.']
    gains = [value(s, MODELS[1], d, 'R1') - value(s, MODELS[0], d, 'R1')
             for s in summaries for d in ('t2v', 'v2t')]
    lines.append(f'Stage 2 minus stage 1, R@1 over every seed and direction: '
                 f'{min(gains):+.0f} to {max(gains):+.0f} (mean {statistics.mean(gains):+.1f}).')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-root', default='work_dirs/demo_seeds')
    parser.add_argument('--data-dir', default='data/demo_msrvtt')
    parser.add_argument('--docs', help='replace this benchmark\'s section of this markdown file')
    parser.add_argument('--label', default=None,
                        help='section heading (default: names the CPU kind)')
    args = parser.parse_args(argv)
    machine = machine_description()
    summaries = [run_seed(seed, ROOT / args.work_root, args.data_dir) for seed in args.seeds]
    text = markdown(summaries, machine)
    print('\n' + text)
    if args.docs:
        label = args.label or f"Demo over seeds ({machine['isa'].split(', ')[1]})"
        command = 'python tools/analysis/benchmark_demo.py ' + ' '.join(
            sys.argv[1:] if argv is None else argv)
        replace_docs_section(args.docs, DOCS_MARK, label, command, markdown=text)
    return summaries


if __name__ == '__main__':
    main()
