"""Multi-process (2 gloo processes on CPU, torch.distributed.run) against 1 process.

* tools/test.py: the same metrics to the last digit and the same rank for every query, for
  stage 1 and for stage 2 (each rank re-ranks its own queries with DDIM; the sampling noise is
  seeded per global query index). The test dataloader uses ``batch_size=1`` in both runs so that
  every video and caption is encoded alone, giving bitwise-identical features whatever the
  sharding (batched matmuls of other shapes may differ in the last bits).
* tools/dist_train.sh trains 1 epoch with 2 processes and writes a checkpoint.
* The stage-1 contrastive loss with features gathered by ``gather_with_grad`` (each rank half a
  batch) equals the 1-process loss of the whole batch.

Every process start costs ~6 s of imports on the 2-core test machine, so the multi-process runs
of tools/test.py and the loss check share one ``python -m torch.distributed.run
--nproc_per_node=2 --master_port=PORT dist_worker.py TASKS`` launch, which runs tools/test.py as
``__main__`` with each command line (``--launcher pytorch --out-metrics F``), see dist_worker.py;
tools/dist_train.sh is launched as a user would.
"""
import importlib.util
import json
import pickle
import subprocess
from pathlib import Path

import pytest
import torch

from mmdret.utils.safe_load import load_checkpoint_file

from .integration_utils import (METRIC_KEYS, NUM_TEST_VIDEOS, ROOT, copy_dataset, free_port,
                                read_logs, read_scalars, run_distributed, subprocess_env,
                                write_config)

HERE = Path(__file__).resolve().parent
BATCH_1 = ['--cfg-options', 'test_dataloader.batch_size=1']


def ranks(path):
    """(direction, query, rank) of every query in a ``tools/test.py --dump`` file."""
    records = pickle.loads(Path(path).read_bytes())
    return sorted((r['direction'], r['query_idx'], r['rank']) for r in records)


def load_worker():
    spec = importlib.util.spec_from_file_location('dist_worker', HERE / 'dist_worker.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker_output(path):
    error = Path(f'{path}.error')
    if error.exists():
        pytest.fail(f'the 2-process task failed:\n{error.read_text()}')
    assert Path(path).exists(), f'the 2-process task wrote no {path}'
    return path


@pytest.fixture(scope='module')
def worker(demo_data, stage1_run, stage2_run, tmp_path_factory):
    """One 2-process launch of dist_worker.py running tools/test.py on the stage-1 and the
    stage-2 checkpoints and on an odd gallery with a corrupt video, and the contrastive loss."""
    tmp = tmp_path_factory.mktemp('dist_worker')
    # 11 test videos (odd: the sampler pads rank 1 with video 0), video 0 corrupt.
    data = copy_dataset(demo_data, tmp / 'odd_data')
    test_csv = data / 'annotations' / 'MSRVTT_JSFUSION_test.csv'
    rows = test_csv.read_text().splitlines(keepends=True)
    test_csv.write_text(''.join(rows[:NUM_TEST_VIDEOS]))  # header + 11 videos
    video = data / 'videos' / f'{rows[1].split(",")[2]}.mp4'
    video.write_bytes(video.read_bytes()[:200])
    odd_cfg = write_config(tmp / 'odd.py', data, tmp / 'odd_work')
    tasks = [
        dict(kind='test_tool', out=str(tmp / 'stage1.json'),
             argv=[stage1_run['config'], stage1_run['checkpoint'], '--launcher', 'pytorch',
                   '--work-dir', tmp / 'stage1_work', '--out-metrics', tmp / 'stage1.json',
                   '--dump', tmp / 'stage1.pkl', *BATCH_1]),
        dict(kind='test_tool', out=str(tmp / 'stage2.json'),
             argv=[stage2_run['config'], stage2_run['checkpoint'], '--launcher', 'pytorch',
                   '--work-dir', tmp / 'stage2_work', '--out-metrics', tmp / 'stage2.json',
                   '--dump', tmp / 'stage2.pkl', *BATCH_1]),
        dict(kind='test_tool', out=str(tmp / 'odd.json'),
             argv=[odd_cfg, stage1_run['checkpoint'], '--launcher', 'pytorch',
                   '--out-metrics', tmp / 'odd.json', '--dump', tmp / 'odd.pkl']),
        dict(kind='contrastive_loss', config=str(stage1_run['config']),
             out=str(tmp / 'loss.pt')),
    ]
    for task in tasks:
        task['argv'] = [str(arg) for arg in task.get('argv', [])]
    (tmp / 'tasks.json').write_text(json.dumps(tasks))
    run_distributed([HERE / 'dist_worker.py', tmp / 'tasks.json'], cwd=tmp)
    return tmp


def assert_same_results(single, two, ranks_single, ranks_two, log):
    assert set(METRIC_KEYS) <= set(two)
    assert two == single  # exact: every float to the last digit
    assert two['retrieval/t2v_num_queries'] == two['retrieval/v2t_num_queries'] == 12
    # Every query scored once, with the same rank.
    assert len(ranks_single) == 2 * NUM_TEST_VIDEOS
    assert ranks_two == ranks_single
    # The 2-process run was sharded: each rank scored half of the queries.
    half = NUM_TEST_VIDEOS // 2
    assert f'[rank 0] scored {half} t2v queries against {NUM_TEST_VIDEOS} candidates' in log


def test_stage1_test_tool_two_processes_equal_one(tools, stage1_run, worker, tmp_path):
    config, checkpoint = stage1_run['config'], stage1_run['checkpoint']
    single = tools.test.main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'one'),
                              '--dump', str(tmp_path / 'one.pkl'), *BATCH_1])
    two = json.loads(Path(worker_output(worker / 'stage1.json')).read_text())
    assert_same_results(single, two, ranks(tmp_path / 'one.pkl'), ranks(worker / 'stage1.pkl'),
                        read_logs(worker / 'stage1_work'))


def test_stage2_test_tool_two_processes_equal_one(tools, stage2_run, worker, tmp_path):
    config, checkpoint = stage2_run['config'], stage2_run['checkpoint']
    single = tools.test.main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'one'),
                              '--dump', str(tmp_path / 'one.pkl'), *BATCH_1])
    two = json.loads(Path(worker_output(worker / 'stage2.json')).read_text())
    assert_same_results(single, two, ranks(tmp_path / 'one.pkl'), ranks(worker / 'stage2.pkl'),
                        read_logs(worker / 'stage2_work'))
    # Re-ranking did run: without it (alpha 0) the ranks are others.
    tools.test.main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'alpha0'),
                     '--dump', str(tmp_path / 'a0.pkl'), '--cfg-options',
                     'model.reranker.alpha.t2v=0.0', 'model.reranker.alpha.v2t=0.0'])
    assert ranks(tmp_path / 'a0.pkl') != ranks(tmp_path / 'one.pkl')


def test_contrastive_loss_with_gather_with_grad(stage1_run, worker):
    two = torch.load(worker_output(worker / 'loss.pt'), map_location='cpu')
    dist_worker = load_worker()
    model = dist_worker.build_model(str(stage1_run['config']))
    loss, grads = dist_worker.loss_and_grads(model, dist_worker.make_inputs())
    assert two['world_size'] == 2
    # Both ranks compute the loss of the global 8 x 8 similarity matrix.
    assert torch.equal(two['losses'][0], two['losses'][1])
    torch.testing.assert_close(two['losses'][0], loss, rtol=1e-6, atol=1e-6)
    assert abs(loss.item() - 2.0794) < 0.3  # ~ln 8: one 8 x 8 matrix, not two 4 x 4 (ln 4)
    assert two['grads_sum'].keys() == grads.keys()
    # Parameters before the gather (the encoder) get, on each rank, the gradient through its
    # own half of the batch (the local-slice backward): summed over ranks it is the
    # full-batch gradient. Parameters after it (similarity head; the logit scale) see the whole
    # gathered batch on every rank, so each rank holds the full gradient (the official
    # AllGather convention; DDP's averaging then gives the encoder 1/world_size of it).
    after_gather = [n for n in grads
                    if n.startswith('similarity_head.') or n == 'encoder.clip.logit_scale']
    assert after_gather and len(after_gather) < len(grads)
    for name, grad in grads.items():
        if name in after_gather:
            torch.testing.assert_close(two['grads_rank0'][name], grad, rtol=1e-4, atol=1e-7)
            continue
        torch.testing.assert_close(two['grads_sum'][name], grad, rtol=1e-4, atol=1e-7)
        if grad.abs().max() > 1e-6:  # rank 0 alone does not have it
            assert not torch.allclose(two['grads_rank0'][name], grad, rtol=1e-4, atol=1e-7), name


def test_corrupt_video_count_with_sampler_padding(worker):
    two = json.loads(Path(worker_output(worker / 'odd.json')).read_text())
    # The padding duplicate is scored once (the metric keeps one record per query) ...
    assert two['retrieval/t2v_num_queries'] == two['retrieval/v2t_num_queries'] == 11
    # ... but counted twice as corrupt.
    assert two['retrieval/corrupt_videos'] == 1


def test_dump_with_sampler_padding_lists_each_query_once(worker):
    # 11 queries per direction over 2 processes: the sampler pads rank 1 with query 0, which
    # used to be dumped twice.
    records = pickle.loads(Path(worker_output(worker / 'odd.json')).with_suffix('.pkl')
                           .read_bytes())
    keys = [(r['direction'], r['query_idx']) for r in records]
    assert sorted(keys) == [(d, i) for d in ('t2v', 'v2t') for i in range(NUM_TEST_VIDEOS - 1)]


def test_dist_train_sh_trains_with_two_processes(demo_data, tmp_path):
    cfg = write_config(tmp_path / 'dist_train.py', demo_data['out_dir'], tmp_path / 'work',
                       train_items=32)
    env = dict(subprocess_env(), PORT=str(free_port()))
    result = subprocess.run(['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(cfg), '2',
                             '--work-dir', str(tmp_path / 'work')], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    checkpoint = load_checkpoint_file(tmp_path / 'work' / 'epoch_1.pth')
    # 32 items over 2 processes with batch 8 each: 2 iterations.
    assert checkpoint['meta']['epoch'] == 1 and checkpoint['meta']['iter'] == 2
    assert any(k.startswith('encoder.clip.') for k in checkpoint['state_dict'])
    assert not any(k.startswith('module.') for k in checkpoint['state_dict'])
    log = read_logs(tmp_path / 'work')
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    records = [r for r in read_scalars(tmp_path / 'work') if 'loss' in r]
    assert [r['iter'] for r in records] == [1, 2]
    # The end-of-epoch validation ran sharded over the 12 test videos.
    assert '[rank 0] scored 6 t2v queries against 12 candidates' in log
