"""mmdret and mmaction2 components mixed in one real Runner, as an mmaction2 user would mix them:

1. an mmdret model fed by mmaction2's ``VideoTextDataset`` and decode transforms;
2. an mmdret dataset decoded by mmaction2's ``DecordInit`` / ``UniformSample`` / ``DecordDecode``,
   here with a stage-2 (diffusion re-ranking) model;
3. mmaction2's ``RetrievalMetric`` evaluating an mmdret model under mmengine's plain ``TestLoop``
   (the model's ``predict`` mode).

Each trains or tests for a few iterations on the generated demo data (tiny CLIP, 4 frames).
"""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .integration_utils import METRIC_KEYS, NUM_TEST_VIDEOS, config_text

FRAMES, SIZE = 4, 32


def mmaction_pipeline(test_mode):
    """mmaction2's decoding (unprefixed names resolve to mmaction2's transforms), then mmdret's
    tokeniser and packer (mmaction2's ``CLIPTokenize`` needs OpenAI's git-only ``clip``)."""
    return [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=FRAMES, num_clips=1, test_mode=test_mode),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, SIZE), keep_ratio=True, interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=SIZE),
        dict(type='TokenizeCaptions', max_words=32),
        dict(type='PackRetrievalInputs', max_frames=FRAMES),
    ]


def video_text_annotations(data_root, split_file, out, sentences_file=None):
    """Write mmaction2's ``VideoTextDataset`` annotation (``{video file: [captions]}``) of an
    MSR-VTT split of the demo data, read through mmdret's dataset."""
    from mmdret.datasets import MSRVTTRetrievalDataset
    dataset = MSRVTTRetrievalDataset(
        ann_file=f'annotations/{split_file}', sentences_file=sentences_file,
        data_root=str(data_root), data_prefix=dict(video='videos'), pipeline=[],
        test_mode=sentences_file is None)
    pairs = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        pairs.setdefault(info['video_id'] + '.mp4', []).extend(info['texts'])
    out.write_text(json.dumps(pairs))
    return str(out), sum(len(texts) for texts in pairs.values())


def build_runner(tmp_path, data_root, stage=1, extra=''):
    path = tmp_path / f'mix_stage{stage}.py'
    path.write_text(config_text(data_root, tmp_path / 'work', stage=stage, extra=extra))
    cfg = Config.fromfile(str(path))
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    return Runner.from_cfg(cfg)


def video_text_loaders(tmp_path, data_root, train_items=16):
    train_ann, num_train = video_text_annotations(
        data_root, 'MSRVTT_train.9k.csv', tmp_path / 'train.json', 'annotations/MSRVTT_data.json')
    test_ann, num_test = video_text_annotations(data_root, 'MSRVTT_JSFUSION_test.csv',
                                                tmp_path / 'test.json')
    assert num_train > train_items and num_test == NUM_TEST_VIDEOS
    return f"""
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type='mmaction.VideoTextDataset', ann_file={train_ann!r},
                 data_prefix=dict(video=data_root + '/videos'), indices={train_items},
                 pipeline={mmaction_pipeline(False)!r}))
test_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='mmaction.VideoTextDataset', ann_file={test_ann!r},
                 data_prefix=dict(video=data_root + '/videos'), test_mode=True,
                 pipeline={mmaction_pipeline(True)!r}))
val_dataloader = test_dataloader
"""


def pipeline_types(dataset):
    return [f'{type(t).__module__.split(".")[0]}.{type(t).__name__}'
            for t in dataset.pipeline.transforms]


def test_mmdret_model_on_mmaction_video_text_dataset(demo_data, tmp_path):
    from mmaction.datasets import VideoTextDataset
    data_root = demo_data['out_dir']
    runner = build_runner(tmp_path, data_root, extra=video_text_loaders(tmp_path, data_root))
    assert type(runner.train_dataloader.dataset) is VideoTextDataset
    assert pipeline_types(runner.train_dataloader.dataset) == [
        'mmaction.DecordInit', 'mmaction.UniformSample', 'mmaction.DecordDecode',
        'mmaction.Resize', 'mmaction.CenterCrop', 'mmdret.TokenizeCaptions',
        'mmdret.PackRetrievalInputs']
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert runner.iter == 2
    moved = [k for k, v in runner.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith('encoder.') for k in moved)
    # mmdret's own loop and metric, every pair of the test file a video and its caption.
    metrics = runner.test()
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS


def stage1_checkpoint(tmp_path, data_root):
    """A stage-1 checkpoint (random tiny weights) of the tiny stage-1 config."""
    from mmdret.registry import MODELS
    from mmdret.utils import register_all_modules
    register_all_modules()
    path = tmp_path / 'stage1.py'
    path.write_text(config_text(data_root, tmp_path / 'work1'))
    torch.manual_seed(1)  # not the runner's seed: the weights differ unless loaded
    state = MODELS.build(Config.fromfile(str(path)).model).state_dict()
    state = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
             for k, v in state.items()}
    checkpoint = tmp_path / 'stage1.pth'
    torch.save(dict(state_dict=state, meta=dict()), checkpoint)
    return checkpoint, state


def test_stage2_model_on_mmdret_dataset_with_mmaction_decoding(demo_data, tmp_path):
    from mmdret.datasets import MSRVTTRetrievalDataset
    from mmdret.models.heads import DiffusionReranker
    checkpoint, stage1_state = stage1_checkpoint(tmp_path, demo_data['out_dir'])
    extra = f"""
load_from = {str(checkpoint)!r}
train_dataloader.update(dataset=dict(train_dataloader['dataset'],
                                    pipeline={mmaction_pipeline(False)!r}, indices=16))
test_dataloader.update(dataset=dict(test_dataloader['dataset'],
                                   pipeline={mmaction_pipeline(True)!r}))
val_dataloader = test_dataloader
"""
    runner = build_runner(tmp_path, demo_data['out_dir'], stage=2, extra=extra)
    assert isinstance(runner.model.reranker, DiffusionReranker)
    dataset = runner.train_dataloader.dataset
    assert type(dataset) is MSRVTTRetrievalDataset
    assert pipeline_types(dataset)[:3] == [
        'mmaction.DecordInit', 'mmaction.UniformSample', 'mmaction.DecordDecode']
    packed = dataset[0]
    assert packed['inputs']['video'].shape == (FRAMES, 3, SIZE, SIZE)
    assert packed['inputs']['video_mask'].tolist() == [1] * FRAMES  # derived: all real
    before = {k: v.clone() for k, v in runner.model.reranker.state_dict().items()}
    runner.train()
    assert runner.iter == 2
    after = runner.model.reranker.state_dict()
    assert any(not torch.equal(v, before[k]) for k, v in after.items())
    # Stage 1 came from the checkpoint and stayed frozen.
    for key, value in runner.model.state_dict().items():
        if key.startswith('encoder.'):
            assert torch.equal(value, stage1_state[key]), key
    metrics = runner.test()
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics['retrieval/t2v_num_queries'] == NUM_TEST_VIDEOS


def test_mmaction_retrieval_metric_under_plain_test_loop(demo_data, tmp_path):
    from mmaction.evaluation import RetrievalMetric
    from mmengine.runner import TestLoop
    data_root = demo_data['out_dir']
    extra = video_text_loaders(tmp_path, data_root) + """
test_cfg = dict(_delete_=True, type='TestLoop')
test_evaluator = dict(_delete_=True, type='mmaction.RetrievalMetric')
"""
    runner = build_runner(tmp_path, data_root, extra=extra)
    metrics = runner.test()
    assert type(runner.test_loop) is TestLoop
    assert type(runner.test_loop.evaluator.metrics[0]) is RetrievalMetric
    assert {f'retrieval/{k}' for k in ('R1', 'R5', 'R10', 'MdR', 'MnR')} <= set(metrics)

    # Reference: rank of each pair's video among all, from the model's embeddings directly.
    model = runner.model.eval()
    texts, videos = [], []
    with torch.no_grad():
        for batch in runner.test_dataloader:
            data = model.data_preprocessor(batch)
            features = model.extract_feat(data['inputs'], data['data_samples'])
            texts.append(model.embed('text', features['text']))
            videos.append(model.embed('video', features['video']))
    similarity = torch.cat(texts) @ torch.cat(videos).t()
    ranks = (similarity > similarity.diag()[:, None]).sum(dim=1).numpy()
    assert len(ranks) == NUM_TEST_VIDEOS
    assert metrics['retrieval/R1'] == pytest.approx(100 * np.mean(ranks == 0))
    assert metrics['retrieval/R5'] == pytest.approx(100 * np.mean(ranks < 5))
    assert metrics['retrieval/MnR'] == pytest.approx(ranks.mean() + 1)
