"""The demo: generate data, train DiffusionRet stage 1 and stage 2, evaluate, print the tables.

Runs the same commands a user runs (``tools/train.py``, ``tools/test.py``), each as its own
process, on data the project generates itself (``tools/data/make_demo_dataset.py``).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE1 = 'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py'
STAGE2 = 'configs/diffusionret/diffusionret_stage2_tiny_1xb64-demo.py'
COLUMNS = ('R1', 'R5', 'R10', 'MdR', 'MnR')


def run(step, args):
    print(f'\n=== {step}: {" ".join(args)}', flush=True)
    started = time.time()
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)
    return time.time() - started


def table(results):
    lines = ['| model | direction | ' + ' | '.join(COLUMNS) + ' |',
             '|---|---|' + '---|' * len(COLUMNS)]
    for name, metrics in results.items():
        for direction in ('t2v', 'v2t'):
            values = ' | '.join(f'{metrics[f"retrieval/{direction}_{c}"]:.1f}' for c in COLUMNS)
            lines.append(f'| {name} | {direction} | {values} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-dir', default='data/demo_msrvtt')
    parser.add_argument('--seed', type=int, default=None,
                        help="training seed of both stages (default: the configs' seed, 0)")
    parser.add_argument('--summary', help='also write the timings and metrics to this JSON file')
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    stage1_dir, stage2_dir = work / 'stage1', work / 'stage2'
    data = [f'train_dataloader.dataset.data_root={args.data_dir}',
            f'val_dataloader.dataset.data_root={args.data_dir}',
            f'test_dataloader.dataset.data_root={args.data_dir}']
    seed = [] if args.seed is None else [f'randomness.seed={args.seed}']
    started = time.time()
    timings = {
        'data': run('generate data', ['tools/data/make_demo_dataset.py', '--out-dir',
                                      args.data_dir]),
        # Validation happens once, in the test step below (the demo's val split is its test).
        'stage 1 train': run('train stage 1', ['tools/train.py', STAGE1, '--work-dir',
                                               str(stage1_dir), '--no-validate',
                                               '--cfg-options', *data, *seed]),
    }
    stage1_ckpt = (stage1_dir / 'last_checkpoint').read_text().strip()
    features = f'{work}/features/stage1_{{split}}.pth'
    timings['feature cache'] = run('cache stage-1 features', [
        'tools/extract_features.py', STAGE1, stage1_ckpt, '--out', features,
        # Two decoding workers: the frozen tiny encoder leaves the cores to decoding here.
        '--num-workers', '2', '--cfg-options', *data])
    cache = [f'train_dataloader.dataset.feature_file={features.format(split="train")}',
             f'val_dataloader.dataset.feature_file={features.format(split="test")}',
             f'test_dataloader.dataset.feature_file={features.format(split="test")}']
    timings['stage 2 train'] = run('train stage 2 (from the feature cache)', [
        'tools/train.py', STAGE2, '--work-dir', str(stage2_dir), '--no-validate',
        '--cfg-options', f'load_from={stage1_ckpt}', *cache, *seed])
    stage2_ckpt = (stage2_dir / 'last_checkpoint').read_text().strip()
    results = {}
    for name, config, ckpt, options in (('stage 1', STAGE1, stage1_ckpt, data),
                                        ('stage 2', STAGE2, stage2_ckpt, cache)):
        out = work / f'{name.replace(" ", "")}_metrics.json'
        timings[f'{name} test'] = run(f'test {name}', [
            'tools/test.py', config, ckpt, '--work-dir', str(work / 'test'), '--out-metrics',
            str(out), '--cfg-options', *options])
        results[f'DiffusionRet {name}'] = json.loads(out.read_text())
    print('\n' + table(results))
    timings['total'] = time.time() - started
    print('\n' + ' | '.join(f'{step} {seconds:.0f}s' for step, seconds in timings.items()))
    if args.summary:
        Path(args.summary).write_text(json.dumps(
            dict(seed=args.seed, timings=timings, metrics=results), indent=1))
    return results


if __name__ == '__main__':
    main()
