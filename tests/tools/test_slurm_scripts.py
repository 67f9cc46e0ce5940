"""tools/slurm_train.sh / slurm_test.sh build the srun command line; a fake srun records it."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[2]
FAKE_SRUN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ['SRUN_RECORD'], 'w') as f:
    json.dump(dict(argv=sys.argv[1:], pythonpath=os.environ.get('PYTHONPATH', '')), f)
"""


def run_script(tmp_path, script, args, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'srun').chmod(0o755)
    record = tmp_path / 'srun.json'
    environ = {k: v for k, v in os.environ.items()
               if k not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS', 'PYTHON')}
    environ.update(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', SRUN_RECORD=str(record),
                   **env)
    result = subprocess.run(['bash', str(ROOT / 'tools' / script), *args], cwd=tmp_path,
                            env=environ, capture_output=True, text=True, timeout=60)
    return result, (json.loads(record.read_text()) if record.exists() else None)


def test_slurm_train_builds_the_srun_command(tmp_path):
    config = tmp_path / 'x.py'
    config.write_text('')  # train.py checks that the config exists
    result, call = run_script(
        tmp_path, 'slurm_train.sh',
        ['gpu-partition', 'dr-msrvtt', str(config), 'work_dirs/x', '--seed', '7', '--amp'],
        GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='6', SRUN_ARGS='--time=2:00:00 --qos=high')
    assert result.returncode == 0, result.stderr
    assert call['argv'] == [
        '-p', 'gpu-partition', '--job-name=dr-msrvtt', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=6', '--kill-on-bad-exit=1',
        '--time=2:00:00', '--qos=high',
        'python', '-u', str(ROOT / 'tools' / 'train.py'), str(config),
        '--work-dir=work_dirs/x', '--launcher=slurm', '--seed', '7', '--amp']
    assert call['pythonpath'].split(os.pathsep)[0] == str(ROOT / 'tools' / '..')
    # What srun would run is a command line tools/train.py accepts.
    args = load_tool('train.py').parse_args(call['argv'][call['argv'].index(str(config)):])
    assert (args.config, args.work_dir, args.launcher, args.seed, args.amp) == (
        str(config), 'work_dirs/x', 'slurm', 7, True)


def test_slurm_defaults_are_the_paper_gpu_count_on_one_node(tmp_path):
    _, call = run_script(tmp_path, 'slurm_train.sh', ['p', 'j', 'c.py', 'w'])
    assert call['argv'][:7] == ['-p', 'p', '--job-name=j', '--gres=gpu:4', '--ntasks=4',
                                '--ntasks-per-node=4', '--cpus-per-task=5']
    _, call = run_script(tmp_path, 'slurm_train.sh', ['p', 'j', 'c.py', 'w'], GPUS='1')
    assert call['argv'][3:6] == ['--gres=gpu:1', '--ntasks=1', '--ntasks-per-node=1']


def test_slurm_test_passes_config_checkpoint_and_launcher(tmp_path):
    config, checkpoint = tmp_path / 'x.py', tmp_path / 'ckpt.pth'
    config.write_text('')
    checkpoint.write_bytes(b'')
    result, call = run_script(
        tmp_path, 'slurm_test.sh',
        ['p', 'eval', str(config), str(checkpoint), '--out-metrics', 'm.json'],
        GPUS='2', PYTHON='python3')
    assert result.returncode == 0, result.stderr
    command = call['argv'][call['argv'].index('python3'):]
    assert command == ['python3', '-u', str(ROOT / 'tools' / 'test.py'), str(config),
                       str(checkpoint), '--launcher=slurm', '--out-metrics', 'm.json']
    args = load_tool('test.py').parse_args(command[3:])
    assert (args.checkpoint, args.launcher, args.out_metrics) == (
        str(checkpoint), 'slurm', 'm.json')


@pytest.mark.parametrize('tool,argv,message', [
    ('train.py', ['missing.py'], 'config: no such file: missing.py'),
    ('test.py', ['missing.py', 'ckpt.pth'], 'config: no such file: missing.py'),
    ('test.py', ['CONFIG', 'missing.pth'], 'checkpoint: no such file: missing.pth'),
])
def test_train_and_test_name_a_missing_file_before_building_anything(
        tmp_path, capsys, tool, argv, message):
    (tmp_path / 'config.py').write_text('')
    argv = [str(tmp_path / 'config.py') if arg == 'CONFIG' else arg for arg in argv]
    with pytest.raises(SystemExit) as error:
        load_tool(tool).parse_args(argv)
    assert error.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_print_usage_without_srun_when_arguments_are_missing(tmp_path, script):
    result, call = run_script(tmp_path, script, ['p', 'j', 'c.py'])
    assert result.returncode == 2 and call is None
    assert 'Usage:' in result.stderr and 'PARTITION JOB_NAME CONFIG' in result.stderr
