"""The data-preparation tools: tools/data/check_videos.py, the prepare scripts and the shared
mmdret.datasets.preparation (check, re-encode), on a tiny MSR-VTT-format dataset."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import decord
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA_TOOLS = ROOT / 'tools' / 'data'
MSRVTT_CONFIG = 'configs/_base_/datasets/msrvtt_9k_1ka.py'
DATASETS = ('msrvtt', 'lsmdc', 'msvd', 'activitynet', 'didemo', 'vatex', 'charades')
TRAIN, TEST = ['video0', 'video1', 'video2', 'video3'], ['video4', 'video5']
# Non-square (the short side must become 224 whichever side it is), 10 fps, 2 s.
WIDTH, HEIGHT, FPS, NUM_FRAMES = 64, 48, 10, 20

from mmdret.datasets import preparation as data_tools
from mmdret.datasets.preparation import video_reencode
from tool_loader import load_module as load_script


def write_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), FPS, (WIDTH, HEIGHT))
    for i in range(NUM_FRAMES):
        frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        cv2.circle(frame, (3 * i, HEIGHT // 2), 6, (0, 255, 255), -1)
        writer.write(frame)
    writer.release()


def make_msrvtt(root):
    """Six videos in the official MSR-VTT files: four train, two 1k-A-style test."""
    (root / 'videos').mkdir(parents=True)
    (root / 'annotations').mkdir()
    for video_id in TRAIN + TEST:
        write_video(root / 'videos' / f'{video_id}.mp4')
    with open(root / 'annotations' / 'MSRVTT_train.9k.csv', 'w', newline='') as file:
        csv.writer(file).writerows([['video_id']] + [[v] for v in TRAIN])
    sentences = [dict(video_id=v, caption=f'caption {i} of {v}') for v in TRAIN + TEST
                 for i in range(2)]
    (root / 'annotations' / 'MSRVTT_data.json').write_text(json.dumps(dict(sentences=sentences)))
    with open(root / 'annotations' / 'MSRVTT_JSFUSION_test.csv', 'w', newline='') as file:
        csv.writer(file).writerows([['key', 'vid_key', 'video_id', 'sentence']]
                                   + [[f'ret{i}', v, v, f'caption 0 of {v}']
                                      for i, v in enumerate(TEST)])
    return root


@pytest.fixture
def clean(tmp_path):
    return make_msrvtt(tmp_path / 'msrvtt')


@pytest.fixture
def broken(clean):
    """video3 (train) deleted, video5 (test) replaced by random bytes."""
    (clean / 'videos' / 'video3.mp4').unlink()
    (clean / 'videos' / 'video5.mp4').write_bytes(np.random.default_rng(0).bytes(4096))
    return clean


def check(root, tmp_path, *extra):
    report_file = tmp_path / 'report.json'
    status = data_tools.main([str(ROOT / MSRVTT_CONFIG), '--data-root', str(root), '--out',
                              str(report_file), *extra])
    return status, json.loads(report_file.read_text())


def names(items):
    return sorted(item['video_id'] for item in items)


def test_check_reports_exactly_the_missing_and_corrupt_videos(broken, tmp_path, capsys):
    status, report = check(broken, tmp_path)
    assert status == 1 and report['ok'] is False
    train, test = report['splits']['train'], report['splits']['test']
    assert names(train['missing']) == ['video3'] and train['corrupt'] == []
    assert test['missing'] == [] and names(test['corrupt']) == ['video5']
    assert test['corrupt'][0]['error'].startswith('Cannot decode video')
    assert (train['num_videos'], train['num_texts'], train['num_ok']) == (4, 8, 3)
    assert (test['num_videos'], test['num_texts'], test['num_ok']) == (2, 2, 1)
    assert report['splits']['val'] == {'same_as': 'test'}  # test_dataloader = val_dataloader
    out = capsys.readouterr().out
    assert 'missing video3' in out and 'corrupt video5' in out and 'FAILED' in out


def test_check_passes_on_a_clean_set_and_compares_counts(clean, tmp_path):
    status, report = check(clean, tmp_path, '--expected', 'train=4', 'test=2')
    assert status == 0 and report['ok'] is True
    assert report['splits']['train']['count_ok'] is True
    # A download that is complete but not the paper split fails too.
    status, report = check(clean, tmp_path, '--split', 'test', '--expected', 'test=1000')
    assert status == 1 and list(report['splits']) == ['test']
    assert report['splits']['test']['count_ok'] is False


def test_check_reports_unreadable_annotations(clean, tmp_path):
    (clean / 'annotations' / 'MSRVTT_train.9k.csv').unlink()
    status, report = check(clean, tmp_path)
    assert status == 1
    assert 'MSRVTT_train.9k.csv' in report['splits']['train']['error']
    assert report['splits']['test']['corrupt'] == []


def test_check_videos_script_exit_status(broken, clean, tmp_path):
    """The real command line, with a process pool."""
    command = [sys.executable, str(DATA_TOOLS / 'check_videos.py'), MSRVTT_CONFIG,
               '--data-root', str(broken), '--workers', '2']
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 1, result.stderr[-2000:]
    assert 'missing video3' in result.stdout and 'corrupt video5' in result.stdout


def test_prepare_script_uses_the_paper_counts(clean, tmp_path):
    prepare = load_script(DATA_TOOLS / 'msrvtt' / 'prepare_msrvtt.py')
    report_file = tmp_path / 'report.json'
    status = data_tools.main(['--data-root', str(clean), '--out', str(report_file)],
                             config=str(ROOT / prepare.CONFIG), expected=prepare.EXPECTED)
    report = json.loads(report_file.read_text())
    assert status == 1  # 4 and 2 videos, not 9,000 and 1,000
    assert report['splits']['train']['expected_videos'] == 9000
    assert report['splits']['test']['count_ok'] is False


@pytest.mark.parametrize('name', DATASETS)
def test_prepare_scripts_match_their_base_configs(name):
    """Each dataset has a README and a thin prepare script whose config and splits exist."""
    script = DATA_TOOLS / name / f'prepare_{name}.py'
    assert len(script.read_text().splitlines()) <= 40
    prepare = load_script(script)
    cfg = data_tools.load_config(str(ROOT / prepare.CONFIG))
    assert set(prepare.EXPECTED) <= {s for s, key in data_tools.SPLITS.items() if cfg.get(key)}
    readme = (DATA_TOOLS / name / 'README.md').read_text()
    assert f'python tools/data/{name}/prepare_{name}.py' in readme
    assert cfg.test_dataloader.dataset.data_root in readme


def reencode(root, tmp_path, out_dir):
    return check(root, tmp_path, '--split', 'test', '--reencode', '--out-dir', str(out_dir))


def test_reencode_is_3fps_short_side_224_and_resumable(clean, tmp_path):
    out_dir = tmp_path / 'reencoded'
    status, report = reencode(clean, tmp_path, out_dir)
    assert status == 0
    assert sorted(report['reencode']['encoded']) == TEST and report['reencode']['skipped'] == []
    outputs = [out_dir / f'{video_id}.mp4' for video_id in TEST]
    for path in outputs:
        reader = decord.VideoReader(str(path))
        height, width = reader[0].shape[:2]
        assert abs(reader.get_avg_fps() - data_tools.REENCODE_FPS) < 0.05
        assert height == data_tools.REENCODE_SHORT_SIDE and width == 298  # 64 x 48 scaled
        assert abs(len(reader) - NUM_FRAMES / FPS * data_tools.REENCODE_FPS) <= 1
    mtimes = [path.stat().st_mtime_ns for path in outputs]

    # Second run: both outputs are done, nothing is rewritten.
    status, report = reencode(clean, tmp_path, out_dir)
    assert status == 0
    assert sorted(report['reencode']['skipped']) == TEST and report['reencode']['encoded'] == []
    assert [path.stat().st_mtime_ns for path in outputs] == mtimes

    # An interrupted run: video4 only has a partial temp file, video5 a truncated output.
    outputs[0].unlink()
    temp = Path(data_tools.temp_path(str(outputs[0])))
    temp.write_bytes(b'\x00\x00\x00\x18ftypmp42')
    outputs[1].write_bytes(outputs[1].read_bytes()[:300])
    status, report = reencode(clean, tmp_path, out_dir)
    assert status == 0
    assert sorted(report['reencode']['encoded']) == TEST and report['reencode']['skipped'] == []
    assert not temp.exists()
    assert all(data_tools.is_done(str(path), 3, 224) for path in outputs)


def test_reencode_reports_failures_and_leaves_no_temp_file(broken, tmp_path):
    out_dir = tmp_path / 'reencoded'
    status, report = reencode(broken, tmp_path, out_dir)
    assert status == 1
    assert report['reencode']['encoded'] == ['video4']
    assert names(report['reencode']['failed']) == ['video5']
    assert sorted(os.listdir(out_dir)) == ['video4.mp4']


def test_a_video_with_another_extension_is_reported_and_reencoded(clean, tmp_path):
    """As the official loaders accept ``<id>.*``: the check names the file found, and the
    re-encoded copy gets the configured name."""
    (clean / 'videos' / 'video2.mp4').rename(clean / 'videos' / 'video2.avi')
    status, report = check(clean, tmp_path, '--split', 'train', '--reencode', '--out-dir',
                           str(tmp_path / 'out'))
    assert status == 1
    [missing] = report['splits']['train']['missing']
    assert missing['video_id'] == 'video2' and 'video2.avi' in missing['note']
    assert sorted(report['reencode']['encoded']) == TRAIN
    assert data_tools.is_done(str(tmp_path / 'out' / 'video2.mp4'), 3, 224)


def test_output_paths_mirror_the_video_folder():
    nested = data_tools.output_path('/d/videos/0001_Movie/0001_Movie_00.01.avi', '/d/videos',
                                    '/out')
    assert nested == '/out/0001_Movie/0001_Movie_00.01.avi'  # LSMDC movie folders
    assert data_tools.output_path('/d/videos/x.mov', '/d/videos', '/out', '.mp4') == '/out/x.mp4'
    assert data_tools.temp_path('/out/x.mp4') == '/out/x.part.mp4'
    assert data_tools.resized_shape(48, 64, 224) == (224, 298)
    assert data_tools.resized_shape(640, 360, 224) == (398, 224)  # portrait


def test_ffmpeg_backend_names_what_to_install(monkeypatch):
    monkeypatch.setattr(video_reencode, 'find_ffmpeg', lambda: None)
    with pytest.raises(RuntimeError, match='apt-get install ffmpeg.*imageio-ffmpeg'):
        data_tools.select_backend('ffmpeg')
    assert data_tools.select_backend('auto') == 'opencv'
