"""Helpers of the integration tests: tiny configs derived from the demo configs, log readers
and launchers of the tools.

Everything is sized for a 2-core CPU machine: 32x32 videos of 8 frames, a ``tiny-64`` CLIP,
4 frames per video, ``num_workers=0``.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_STAGE1 = ROOT / 'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py'
DEMO_STAGE2 = ROOT / 'configs/diffusionret/diffusionret_stage2_tiny_1xb64-demo.py'
NUM_TEST_VIDEOS = 12  # test_groups=3, each with 4 directions
# Train items (videos: the demo config samples one caption per video) of the session-wide
# trainings: 6 iterations of 8, enough to move every weight, cheap on 2 cores.
TRAIN_ITEMS = 48
METRIC_KEYS = [f'retrieval/{d}_{k}' for d in ('t2v', 'v2t')
               for k in ('R1', 'R5', 'R10', 'MdR', 'MnR')] + ['retrieval/Rsum']


def copy_dataset(demo_data, dest):
    """A private copy of the demo dataset (for tests that damage files)."""
    shutil.copytree(demo_data['out_dir'], dest)
    return Path(dest)


def _pipeline_text():
    return """
image_size = 32
max_frames = 4
max_words = 32
pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps=1),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=max_words),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
"""


# The tiny overrides of a config deriving from the stage-2 demo config.
# (The stage-2 demo config leaves the scheduler at the reranker's default: restate its type.)
STAGE2_OVERRIDES = """
model.update(reranker=dict(
    t2v_denoiser=dict(width=64), v2t_denoiser=dict(width=64),
    scheduler=dict(type='DDIMScheduler', num_train_timesteps=10, beta_schedule='cosine'),
    num_inference_steps=3, topk=4, num_negatives=7))
"""


def config_text(data_root, work_dir, stage=1, max_epochs=1, schedule_epochs=None,
                load_from=None, train_items=None, extra=''):
    """Text of a tiny config deriving (``_base_``) from a demo config.

    Args:
        data_root (str | Path): the dataset root.
        work_dir (str | Path): the run's work_dir.
        stage (int): 1 derives from the stage-1 demo config, 2 from the stage-2 one.
        max_epochs (int): ``train_cfg.max_epochs``.
        schedule_epochs (int, optional): length of the lr schedule; defaults to ``max_epochs``
            (a longer schedule simulates a run interrupted before its end).
        load_from (str, optional): stage 2: the stage-1 checkpoint (None leaves it unset).
        train_items (int, optional): train on the first ``train_items`` items only (the
            dataset's ``indices``); None trains on all.
        extra (str): python appended to the config (more overrides).
    """
    schedule_epochs = schedule_epochs or max_epochs
    base = DEMO_STAGE2 if stage == 2 else DEMO_STAGE1
    text = f"""
_base_ = {str(base)!r}
data_root = {str(data_root)!r}
work_dir = {str(work_dir)!r}
{_pipeline_text()}
model = dict(
    encoder=dict(arch='tiny-64', temporal_layers=1, temporal_heads=2),
    similarity_head=dict(embed_dim=64, hidden_dim=128))
# The datasets in full (_delete_): the stage-2 demo config reads stage-1 feature caches, these
# tests decode the videos in both stages.
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, type='MSRVTTRetrievalDataset', data_root=data_root,
        ann_file='annotations/MSRVTT_train.9k.csv',
        sentences_file='annotations/MSRVTT_data.json', data_prefix=dict(video='videos'),
        pipeline=pipeline, caption_sampling='random', indices={train_items}))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, type='MSRVTTRetrievalDataset', data_root=data_root,
        ann_file='annotations/MSRVTT_JSFUSION_test.csv', data_prefix=dict(video='videos'),
        pipeline=pipeline, test_mode=True))
test_dataloader = val_dataloader
max_epochs = {max_epochs}
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end={schedule_epochs},
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=1))
"""
    if stage == 2:
        text += STAGE2_OVERRIDES
        text += f'load_from = {None if load_from is None else str(load_from)!r}\n'
    return text + extra


def write_config(path, data_root, work_dir=None, **kwargs):
    """Write :func:`config_text` to ``path`` (a unique file name per run: mmengine names the
    logger and visualizer instances after the config file and the second they start)."""
    path = Path(path)
    work_dir = work_dir or path.with_suffix('')
    path.write_text(config_text(data_root, work_dir, **kwargs))
    return path


def read_scalars(work_dir):
    """The per-iteration scalars (``vis_data/scalars.json``) of the newest run in work_dir."""
    runs = sorted(p for p in Path(work_dir).iterdir() if (p / 'vis_data').is_dir())
    lines = (runs[-1] / 'vis_data' / 'scalars.json').read_text().splitlines()
    return [json.loads(line) for line in lines]


def read_logs(work_dir):
    """The text of every ``<timestamp>.log`` under work_dir, newest last."""
    logs = sorted(Path(work_dir).glob('*/*.log'))
    return '\n'.join(log.read_text() for log in logs)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def subprocess_env():
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT),
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ['PATH']]))
    env.pop('LOCAL_RANK', None)
    return env


def run_distributed(args, cwd, nproc=2, timeout=300):
    """``python -m torch.distributed.run --nproc_per_node=N --master_port=P ARGS`` in ``cwd``
    (mmengine's result collection leaves a ``.dist_test`` folder in the working directory)."""
    command = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
               f'--master_port={free_port()}', *map(str, args)]
    result = subprocess.run(command, cwd=cwd, env=subprocess_env(), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (f'{command} failed ({result.returncode}):\n'
                                    f'{result.stdout[-3000:]}\n{result.stderr[-5000:]}')
    return result
