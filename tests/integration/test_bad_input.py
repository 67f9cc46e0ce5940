"""Bad inputs through tools/train.py and tools/test.py: each stops at start (dataset / runner
build, before any training iteration) with a message naming the file or key and what was
expected, or, for corrupt videos, follows the dataset's stated policy and reports it."""
import json
import re
from pathlib import Path

import pytest
from mmengine.config import Config

from .integration_utils import NUM_TEST_VIDEOS, copy_dataset, read_logs, write_config

ANN = 'annotations'


def loss_records(work_dir):
    records = []
    for path in Path(work_dir).glob('*/vis_data/scalars.json'):
        records += [r for r in map(json.loads, path.read_text().splitlines()) if 'loss' in r]
    return records


def assert_no_training(work_dir):
    assert not list(Path(work_dir).glob('*.pth'))
    assert loss_records(work_dir) == []


def message_of(excinfo):
    return str(excinfo.value)


@pytest.fixture
def tiny_config(demo_data, tmp_path):
    def make(name='cfg', data=None, **kwargs):
        kwargs.setdefault('train_items', 8)
        return write_config(tmp_path / f'{name}.py', data or demo_data['out_dir'],
                            tmp_path / f'{name}_work', **kwargs)
    return make


def train_stops(tools, cfg, error, *options):
    argv = [str(cfg), '--no-validate'] + (['--cfg-options', *options] if options else [])
    with pytest.raises(error) as excinfo:
        tools.train.main(argv)
    assert_no_training(Path(str(cfg)[:-3] + '_work'))
    return message_of(excinfo)


# -- missing files and folders -------------------------------------------------------------------
def test_missing_ann_file(tools, tiny_config, demo_data):
    message = train_stops(tools, tiny_config(), FileNotFoundError,
                          f'train_dataloader.dataset.ann_file={ANN}/MSRVTT_train.missing.csv')
    assert 'ann_file' in message
    assert str(Path(demo_data['out_dir']) / ANN / 'MSRVTT_train.missing.csv') in message


def test_missing_sentences_file(tools, tiny_config, demo_data):
    message = train_stops(tools, tiny_config(), FileNotFoundError,
                          f'train_dataloader.dataset.sentences_file={ANN}/missing_data.json')
    assert 'sentences_file' in message
    assert str(Path(demo_data['out_dir']) / ANN / 'missing_data.json') in message


def test_missing_video_folder(tools, tiny_config, demo_data):
    message = train_stops(tools, tiny_config(), FileNotFoundError,
                          'train_dataloader.dataset.data_prefix.video=no_such_videos')
    assert "data_prefix['video']" in message and 'not a directory' in message
    assert str(Path(demo_data['out_dir']) / 'no_such_videos') in message


@pytest.fixture
def missing_video_data(demo_data, tmp_path):
    """A dataset copy whose 6th test video file is deleted."""
    data = copy_dataset(demo_data, tmp_path / 'missing_data')
    rows = (data / ANN / 'MSRVTT_JSFUSION_test.csv').read_text().splitlines()
    video_id = rows[6].split(',')[2]
    (data / 'videos' / f'{video_id}.mp4').unlink()
    return data, video_id


def test_missing_video_raise_names_it(tools, stage1_run, tiny_config, missing_video_data):
    data, video_id = missing_video_data
    cfg = tiny_config('missing_raise', data)
    with pytest.raises(FileNotFoundError) as excinfo:
        tools.test.main([str(cfg), str(stage1_run['checkpoint'])])
    message = message_of(excinfo)
    assert re.search(rf'\b{video_id}\b', message)
    assert '1 of 12 videos are missing' in message and "missing_video_policy='skip'" in message


def test_missing_video_skip_drops_it_with_a_warning(tools, stage1_run, tiny_config,
                                                    missing_video_data):
    data, video_id = missing_video_data
    cfg = tiny_config('missing_skip', data)
    metrics = tools.test.main([str(cfg), str(stage1_run['checkpoint']), '--cfg-options',
                               'test_dataloader.dataset.missing_video_policy=skip'])
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS - 1
    assert metrics['retrieval/v2t_num_queries'] == NUM_TEST_VIDEOS - 1
    log = read_logs(Path(str(cfg)[:-3] + '_work'))
    warning = [line for line in log.splitlines() if 'WARNING' in line and 'Skipping' in line]
    assert len(warning) == 1
    assert 'Skipping 1 of 12 videos missing' in warning[0] and video_id in warning[0]


# -- config errors -----------------------------------------------------------------------------
def test_unknown_component_type_is_named(tools, tiny_config):
    message = train_stops(tools, tiny_config(), KeyError, 'model.encoder.type=NoSuchEncoder')
    assert 'NoSuchEncoder is not in the' in message and 'registry' in message


def test_stage2_without_load_from_stops_naming_it(tools, tiny_config):
    cfg = tiny_config('stage2_no_load_from', stage=2, load_from=None)
    assert Config.fromfile(str(cfg)).load_from is None
    message = train_stops(tools, cfg, ValueError)
    assert 'load_from is not set' in message and 'stage-1 checkpoint' in message
    assert str(cfg) in message


# -- malformed annotation rows -------------------------------------------------------------------
def write_lines(path, lines):
    path.write_text(''.join(line + '\n' for line in lines))
    return path


def test_jsfusion_csv_without_sentence_header(tools, stage1_run, tiny_config, tmp_path):
    bad = write_lines(tmp_path / 'no_sentence.csv',
                      ['key,vid_key,video_id', 'ret0,msr144,video144'])
    cfg = tiny_config()
    with pytest.raises(ValueError) as excinfo:
        tools.test.main([str(cfg), str(stage1_run['checkpoint']), '--cfg-options',
                         f'test_dataloader.dataset.ann_file={bad}'])
    message = message_of(excinfo)
    assert message.startswith(f'{bad}:1:')
    assert 'key,vid_key,video_id,sentence' in message


def test_jsfusion_csv_row_without_video_id(tools, stage1_run, tiny_config, demo_data,
                                           tmp_path):
    rows = Path(demo_data['test_csv']).read_text().splitlines()
    rows[3] = 'ret2,msr146,,a caption'  # file line 4
    bad = write_lines(tmp_path / 'no_video_id.csv', rows)
    with pytest.raises(ValueError) as excinfo:
        tools.test.main([str(tiny_config()), str(stage1_run['checkpoint']), '--cfg-options',
                         f'test_dataloader.dataset.ann_file={bad}'])
    assert message_of(excinfo).startswith(f'{bad}:4:')
    assert 'key,vid_key,video_id,sentence' in message_of(excinfo)


def test_train_csv_row_without_video_id(tools, tiny_config, demo_data, tmp_path):
    rows = Path(demo_data['train_csv']).read_text().splitlines()
    rows[5] = '""'  # an empty video_id on file line 6
    bad = write_lines(tmp_path / 'train_no_id.csv', rows)
    message = train_stops(tools, tiny_config(), ValueError,
                          f'train_dataloader.dataset.ann_file={bad}')
    assert message.startswith(f'{bad}:6:') and "'video_id'" in message


def test_sentences_entry_without_caption(tools, tiny_config, demo_data, tmp_path):
    data = json.loads(Path(demo_data['data_json']).read_text())
    del data['sentences'][3]['caption']
    bad = tmp_path / 'MSRVTT_data_bad.json'
    bad.write_text(json.dumps(data))
    message = train_stops(tools, tiny_config(), ValueError,
                          f'train_dataloader.dataset.sentences_file={bad}')
    assert message.startswith(f'{bad}: sentences[3]')
    assert "'caption'" in message


# -- corrupt videos ------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def corrupt_data(demo_data, tmp_path_factory):
    """A dataset copy in which the 4th test video and the 1st train video are truncated to their
    first 200 bytes."""
    data = copy_dataset(demo_data, tmp_path_factory.mktemp('corrupt') / 'data')
    test_id = (data / ANN / 'MSRVTT_JSFUSION_test.csv').read_text().splitlines()[4].split(',')[2]
    train_id = (data / ANN / 'MSRVTT_train.9k.csv').read_text().splitlines()[1]
    for video_id in (test_id, train_id):
        path = data / 'videos' / f'{video_id}.mp4'
        path.write_bytes(path.read_bytes()[:200])
    return dict(root=data, test_id=test_id, test_index=3, train_id=train_id)


def test_corrupt_test_video_is_masked_and_reported(tools, stage1_run, tiny_config,
                                                   corrupt_data):
    cfg = tiny_config('corrupt_test', corrupt_data['root'])
    metrics = tools.test.main([str(cfg), str(stage1_run['checkpoint'])])
    assert metrics['retrieval/corrupt_videos'] == 1
    # The video stays in the gallery: the metrics stay comparable.
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS
    assert metrics['retrieval/v2t_num_queries'] == NUM_TEST_VIDEOS
    log = read_logs(Path(str(cfg)[:-3] + '_work'))
    path = str(corrupt_data['root'] / 'videos' / f'{corrupt_data["test_id"]}.mp4')
    assert re.search(rf"WARNING - Cannot decode video '{re.escape(path)}'.*policy 'mask'", log)
    assert 'WARNING - 1 videos could not be decoded' in log

    # Its frame mask is empty.
    from mmdret.registry import DATASETS
    from mmdret.utils import register_all_modules
    register_all_modules()
    dataset = DATASETS.build(Config.fromfile(str(cfg)).test_dataloader.dataset)
    item = dataset[corrupt_data['test_index']]
    assert item['data_samples'].video_id == corrupt_data['test_id']
    assert item['data_samples'].corrupt_video
    assert item['inputs']['video_mask'].sum() == 0
    intact = dataset[corrupt_data['test_index'] + 1]
    assert not intact['data_samples'].corrupt_video
    assert intact['inputs']['video_mask'].sum() > 0


def test_corrupt_train_video_skip_completes_and_logs(tools, tiny_config, corrupt_data):
    cfg = tiny_config('corrupt_skip', corrupt_data['root'])
    runner = tools.train.main([str(cfg), '--no-validate'])  # 'skip' is the training default
    assert runner.iter == 1 and Path(str(cfg)[:-3] + '_work', 'epoch_1.pth').is_file()
    log = read_logs(Path(str(cfg)[:-3] + '_work'))
    path = str(corrupt_data['root'] / 'videos' / f'{corrupt_data["train_id"]}.mp4')
    assert re.search(rf"WARNING - Cannot decode video '{re.escape(path)}'.*policy 'skip'", log)


def test_corrupt_train_video_raise_names_the_file(tools, tiny_config, corrupt_data):
    from mmdret.datasets.transforms import VideoDecodeError
    cfg = tiny_config('corrupt_raise', corrupt_data['root'])
    with pytest.raises(VideoDecodeError) as excinfo:
        tools.train.main([str(cfg), '--no-validate', '--cfg-options',
                          'train_dataloader.dataset.corrupt_video_policy=raise'])
    path = str(corrupt_data['root'] / 'videos' / f'{corrupt_data["train_id"]}.mp4')
    assert excinfo.value.path == path and path in message_of(excinfo)
    assert not list(Path(str(cfg)[:-3] + '_work').glob('*.pth'))


# -- stage-2 top-k ---------------------------------------------------------------------------------
def test_topk_larger_than_the_gallery_is_clamped_with_a_warning(tools, stage2_run, tmp_path):
    argv = [str(stage2_run['config']), str(stage2_run['checkpoint'])]
    # (experiment_name: mmengine shares the logger of runs of one config started in the same
    # second.)
    clamped = tools.test.main(argv + ['--work-dir', str(tmp_path / 'k32'), '--cfg-options',
                                      'model.reranker.topk=32', 'experiment_name=k32'])
    log = read_logs(tmp_path / 'k32')
    assert re.search(r'WARNING - topk=32 exceeds the 12 candidates; re-ranking all 12', log)
    # Clamping is re-ranking every candidate: the same as topk=12.
    exact = tools.test.main(argv + ['--work-dir', str(tmp_path / 'k12'), '--cfg-options',
                                    'model.reranker.topk=12', 'experiment_name=k12'])
    assert 'scored 12 t2v queries' in read_logs(tmp_path / 'k12')
    assert 'exceeds' not in read_logs(tmp_path / 'k12')
    assert clamped == exact
    assert clamped['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS


# -- non-finite numbers ----------------------------------------------------------------------------
def test_diverging_training_stops_at_the_first_nan_and_saves_nothing(tools, tiny_config):
    # The demo recipe at lr=1e6 turns the loss NaN within a few iterations; before, the run
    # finished with exit code 0, NaN checkpoints and R@1 = 100.
    cfg = tiny_config('diverge', train_items=48)
    with pytest.raises(FloatingPointError) as excinfo:
        tools.train.main([str(cfg), '--cfg-options', 'optim_wrapper.optimizer.lr=1e6'])
    message = message_of(excinfo)
    match = re.search(r'non-finite value at training iteration (\d+) \(epoch 1, batch \d+ of 6\)',
                      message)
    assert match, message
    assert "loss term 'loss_contrastive' = nan" in message or 'weights after the optimizer' \
        in message
    work = Path(str(cfg)[:-3] + '_work')
    assert not list(work.glob('*.pth'))  # no epoch-end or best checkpoint
    logged = [r['iter'] for r in loss_records(work)]
    assert logged == list(range(1, int(match.group(1))))  # the failing iteration is not logged


def stage1_weights(stage1_run, path, edit=None):
    """The trained stage-1 weights as a plain checkpoint file (``edit(state)`` first)."""
    import torch
    state = {k: v.clone() for k, v in stage1_run['runner'].model.state_dict().items()}
    if edit is not None:
        edit(state)
    torch.save(dict(state_dict=state, meta={}), path)
    return path, state


def test_checkpoint_with_nan_weights_is_refused_by_test(tools, stage1_run, tmp_path):
    name = 'similarity_head.text_weight_fc.0.weight'

    def poison(state):
        state[name].view(-1)[0] = float('nan')

    bad, state = stage1_weights(stage1_run, tmp_path / 'nan.pth', poison)
    with pytest.raises(ValueError) as excinfo:
        tools.test.main([str(stage1_run['config']), str(bad), '--work-dir', str(tmp_path / 'w')])
    message = message_of(excinfo)
    assert message.startswith(f'checkpoint {bad}: non-finite weights, refusing to use them; '
                              f'1 of {len(state)} tensors hold NaN/Inf: {name} (1 of ')
    assert 'scored' not in read_logs(tmp_path / 'w')  # refused before any scoring


# -- stage-2 weights -------------------------------------------------------------------------------
def test_stage2_config_on_a_stage1_checkpoint_is_refused(tools, stage1_run, tiny_config,
                                                         tmp_path):
    checkpoint, _ = stage1_weights(stage1_run, tmp_path / 'stage1.pth')
    argv = [str(tiny_config('stage2', stage=2, load_from=None)), str(checkpoint)]
    with pytest.raises(ValueError) as excinfo:
        tools.test.main(argv + ['--work-dir', str(tmp_path / 'refused')])
    message = message_of(excinfo)
    assert message.startswith(f'checkpoint {checkpoint} has no weights for ')
    assert re.search(r'\d+ re-ranker tensors of this stage-2 model \(e.g. reranker\.', message)
    assert 'test_cfg.allow_missing_reranker=True' in message
    assert '--allow-missing-reranker' in message
    assert 'scored' not in read_logs(tmp_path / 'refused')
    # The explicit opt-out scores anyway.
    metrics = tools.test.main(argv + ['--work-dir', str(tmp_path / 'allowed'),
                                      '--allow-missing-reranker'])
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS


# -- annotations through the tools -----------------------------------------------------------------
def test_header_only_test_csv_stops_naming_file_and_line(tools, stage1_run, tiny_config,
                                                         tmp_path):
    bad = write_lines(tmp_path / 'header_only.csv', ['key,vid_key,video_id,sentence'])
    with pytest.raises(ValueError) as excinfo:
        tools.test.main([str(tiny_config()), str(stage1_run['checkpoint']), '--cfg-options',
                         f'test_dataloader.dataset.ann_file={bad}'])
    assert message_of(excinfo).startswith(f'{bad}:2: expected at least one row after the header')
