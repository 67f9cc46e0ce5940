"""Packaging the OpenMMLab way: version ranges vs the lock, ``.mim``, ``mmdret::`` configs, model zoo.

The paper numbers below are transcribed from the papers' result tables independently of the
metafiles, so a metafile typo fails here.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from tool_loader import load_module

ROOT = Path(__file__).resolve().parents[1]

# DiffusionRet (ICCV 2023), stage-2 model, R@1 / R@5 / R@10 / MdR / MnR: (t2v, v2t).
DIFFUSIONRET = {
    'msrvtt-9k': ((49.0, 75.2, 82.7, 2.0, 12.1), (47.7, 73.8, 84.5, 2.0, 8.8)),
    'lsmdc': ((24.4, 43.1, 54.3, 8.0, 40.7), (23.0, 43.5, 51.5, 9.0, 40.2)),
    'msvd': ((46.6, 75.9, 84.1, 2.0, 15.7), (61.9, 88.3, 92.9, 1.0, 4.5)),
    'activitynet': ((45.8, 75.6, 86.3, 2.0, 6.5), (43.8, 75.3, 86.7, 2.0, 6.3)),
    'didemo': ((46.7, 74.7, 82.7, 2.0, 14.3), (46.2, 74.3, 82.2, 2.0, 10.7)),
    'msrvtt-9k_qb-norm': ((48.9, 75.2, 83.1, 2.0, 12.1), (49.3, 74.3, 83.8, 2.0, 8.5)),
}
# DITS (NeurIPS 2024), text-to-video only: (ViT-B/32, ViT-B/16).
DITS = {
    'msrvtt-9k': ((51.9, 75.7, 84.6, 1.0, 11.6), (55.0, 79.8, 87.1, 1.0, 10.0)),
    'lsmdc': ((28.2, 47.3, 56.6, 6.0, 43.7), (31.0, 52.4, 61.0, 5.0, 38.4)),
    'didemo': ((51.1, 77.9, 85.8, 1.0, 12.1), (55.8, 80.5, 87.5, 1.0, 11.0)),
    'vatex': ((64.1, 92.7, 97.0, 1.0, 2.9), (66.4, 94.3, 97.5, 1.0, 2.7)),
    'charades': ((15.5, 36.5, 47.8, 12.0, 55.0), (27.4, 52.0, 64.3, 5.0, 29.7)),
}
METRICS = ('Recall@1', 'Recall@5', 'Recall@10', 'MdR', 'MnR')
T2V, V2T = 'Text-to-Video Retrieval', 'Video-to-Text Retrieval'


def expected_results():
    """{config name: {task: row}} for every model the metafiles must list."""
    expected = {}
    for suffix, (t2v, v2t) in DIFFUSIONRET.items():
        expected[f'diffusionret_stage2_vit-b-32_4xb32-5e_{suffix}'] = {T2V: t2v, V2T: v2t}
    for suffix, (b32, b16) in DITS.items():
        expected[f'dits_vit-b-32_1xb32-5e_{suffix}'] = {T2V: b32}
        expected[f'dits_vit-b-16_1xb32-5e_{suffix}'] = {T2V: b16}
    # The DITS paper's vanilla-diffusion ablation and its X-Pool baseline (R@1 only where only
    # R@1 is quoted).
    expected['dits-vanilla-pretrain_vit-b-32_1xb32-5e_msrvtt-9k'] = {T2V: (35.4,)}
    expected['dits-vanilla-finetune_vit-b-32_1xb32-5e_msrvtt-9k'] = {T2V: (46.5,)}
    expected['xpool_vit-b-32_1xb32-5e_msrvtt-9k'] = {T2V: (46.9, 72.8, 82.2, 2.0, 14.3)}
    expected['xpool_vit-b-16_1xb32-5e_msrvtt-9k'] = {T2V: (48.2,)}
    return expected


def metafile_models():
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    models, collections = [], {}
    for path in index['Import']:
        metafile = yaml.safe_load((ROOT / path).read_text())
        collections.update({c['Name']: c for c in metafile['Collections']})
        models += metafile['Models']
    return models, collections


def test_metafile_entries_point_at_configs_and_carry_the_paper_numbers():
    models, collections = metafile_models()
    expected = expected_results()
    assert sorted(m['Name'] for m in models) == sorted(expected)
    for model in models:
        config = ROOT / model['Config']
        assert config.is_file() and config.stem == model['Name'], model['Config']
        collection = collections[model['In Collection']]
        assert (ROOT / collection['README']).is_file()
        assert model['Metadata']['Training Resources'] == (
            '4 GPUs' if model['Name'].startswith('diffusionret') else '1 GPU')
        found = {r['Task']: tuple(r['Metrics'][name] for name in METRICS if name in r['Metrics'])
                 for r in model['Results']}
        assert found == expected[model['Name']], model['Name']


def test_official_checkpoints_are_listed_for_msrvtt_and_activitynet():
    models, _ = metafile_models()
    converted = {m['Name']: m['Converted From'] for m in models if 'Converted From' in m}
    assert sorted(converted) == ['diffusionret_stage2_vit-b-32_4xb32-5e_activitynet',
                                 'diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k']
    readme = (ROOT / 'configs/diffusionret/README.md').read_text()
    for source in converted.values():
        assert source['Weights'].startswith('https://') and source['Weights'] in readme
    assert 'tools/convert/diffusionret_official_to_mmdret.py' in readme


def read_lock():
    pins = {}
    for name in ('lock.txt', 'mmaction.txt'):
        for line in (ROOT / 'requirements' / name).read_text().splitlines():
            if line and not line.startswith('#'):
                requirement = Requirement(line)
                (pin,) = requirement.specifier
                assert pin.operator == '==', line
                pins[requirement.name.lower().replace('_', '-')] = Version(pin.version)
    return pins


def install_requires(monkeypatch):
    monkeypatch.chdir(ROOT)
    setup = load_module(ROOT / 'setup.py', 'mmdret_setup')
    return [Requirement(line) for line in setup.read_requirements('runtime.txt')]


def test_install_requires_are_ranges_that_the_locked_set_satisfies(monkeypatch):
    requirements = install_requires(monkeypatch)
    pins = read_lock()
    names = {r.name.lower().replace('_', '-') for r in requirements}
    # mmcv comes through mmaction2's own check; pip would put mmcv-lite over a compiled mmcv.
    assert not names & {'mmcv', 'mmcv-lite', 'opencv-python-headless'}
    assert {'torch', 'torchvision', 'mmengine', 'mmaction2', 'open-clip-torch'} <= names
    for requirement in requirements:
        assert all(spec.operator != '==' for spec in requirement.specifier), requirement
        name = requirement.name.lower().replace('_', '-')
        assert requirement.specifier.contains(pins[name]), (requirement, pins[name])
    mmengine = next(r for r in requirements if r.name == 'mmengine')
    assert mmengine.specifier.contains('0.10.7') and not mmengine.specifier.contains('1.0.0')
    # torch and torchvision come in matched pairs (torchvision minor = torch minor + 15).
    assert pins['torchvision'].minor == pins['torch'].minor + 15
    floors = {r.name: Version(next(s.version for s in r.specifier if s.operator == '>='))
              for r in requirements if r.name in ('torch', 'torchvision')}
    assert floors['torchvision'].minor == floors['torch'].minor + 15
    assert 'opencv-python-headless' not in pins


def test_install_script_installs_the_locked_set():
    script = (ROOT / 'tools/install.sh').read_text()
    installs = [line.split('-m pip install', 1)[1].split() for line in script.splitlines()
                if '-m pip install' in line and not line.lstrip().startswith('#')]
    files = [args[args.index('-r') + 1] for args in installs if '-r' in args]
    assert files == ['requirements/lock.txt', 'requirements/mmaction.txt']
    editable = [args for args in installs if '-e' in args]
    assert editable and '--no-deps' in editable[0]  # the lock already holds every dependency


def run_python(code, cwd):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    env.pop('PYTHONPATH', None)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_mmdret_config_paths_resolve_from_any_directory(tmp_path):
    """``_base_ = 'mmdret::...'`` and ``mmengine.hub.get_config('mmdret::...')`` outside the repo."""
    from mmengine.config import Config
    repo_cfg = Config.fromfile(ROOT / 'configs/dits/dits_vit-b-32_1xb32-5e_msrvtt-9k.py')
    (tmp_path / 'my_dits.py').write_text(
        "_base_ = 'mmdret::dits/dits_vit-b-32_1xb32-5e_msrvtt-9k.py'\n"
        "model = dict(aligner=dict(truncated_steps=5))\n")
    result = run_python("""
        from mmengine.config import Config
        try:
            Config.fromfile('my_dits.py')
        except AssertionError as error:
            print('WITHOUT', error)
        import mmdret
        from mmengine.hub import get_config
        cfg = Config.fromfile('my_dits.py')
        print('BASE', cfg.model.type, cfg.model.aligner.truncated_steps, cfg.model.aligner.depth,
              cfg.default_scope, cfg.train_dataloader.batch_size)
        hub = get_config('mmdret::diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py')
        print('HUB', hub.model.type, hub.model.reranker.type, hub.filename)
    """, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(' ', 1) for line in result.stdout.splitlines() if ' ' in line)
    assert 'does not support to load mmdret config' in lines['WITHOUT']
    assert lines['BASE'].split() == [
        'DITS', '5', str(repo_cfg.model.aligner.depth), repo_cfg.default_scope,
        str(repo_cfg.train_dataloader.batch_size)]
    model_type, reranker_type, filename = lines['HUB'].split()
    assert (model_type, reranker_type) == ('DiffusionRet', 'DiffusionReranker')
    assert Path(filename).parts[-4:] == (
        '.mim', 'configs', 'diffusionret', 'diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py')


def can_build_wheels_offline():
    """setuptools >= 70.1 builds wheels itself; older ones need the ``wheel`` package."""
    try:
        from setuptools.command.bdist_wheel import bdist_wheel  # noqa: F401
    except ImportError:
        return importlib.util.find_spec('wheel') is not None
    return True


@pytest.mark.skipif(not can_build_wheels_offline(),
                    reason='this setuptools cannot build a wheel without the wheel package')
def test_wheel_ships_configs_tools_and_model_index_in_mim(tmp_path):
    source = tmp_path / 'src'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'work_dirs', 'data', 'build', '*.egg-info', '.mim', '__pycache__',
        '.pytest_cache', 'checkpoints'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(tmp_path / 'dist'), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / 'dist').glob('mmdret-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f'mmdret/.mim/{p.relative_to(ROOT).as_posix()}'
               for p in (ROOT / 'configs').rglob('*') if p.suffix in ('.py', '.yml', '.md')}
    assert configs <= names
    assert {'mmdret/.mim/model-index.yml', 'mmdret/.mim/tools/train.py',
            'mmdret/.mim/tools/test.py', 'mmdret/.mim/tools/slurm_train.sh'} <= names
    assert not any(name.startswith('tests/') for name in names)
    metadata = next(n for n in names if n.endswith('.dist-info/METADATA'))
    requires = [line.split(':', 1)[1].strip()
                for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith('Requires-Dist:') and 'extra ==' not in line]
    assert 'mmaction2>=1.2.0' in requires
    assert not any(r.startswith(('mmcv', 'torch==')) for r in requires), requires
