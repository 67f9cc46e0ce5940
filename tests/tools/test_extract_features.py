"""tools/extract_features.py end to end on a tiny demo dataset and a random tiny stage-1 model:
the cache format, equality of the cached and the decode path (stage-1 scores, stage-2 generation
losses, stage-2 test metrics through tools/test.py), and the refusal of foreign caches."""
import re
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tool_loader import load_tool
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules
from mmdret.utils.feature_cache import encoder_fingerprint

ROOT = Path(__file__).parents[2]
MAX_FRAMES, MAX_WORDS = 6, 16
RERANKER = dict(type='DiffusionReranker',
                t2v_denoiser=dict(type='TextToVideoDenoiser', width=64),
                v2t_denoiser=dict(type='VideoToTextDenoiser', width=64),
                scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
                num_inference_steps=5, topk=4)


def loader(dataset, batch_size):
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=False), dataset=dataset)


def video_dataset(root, split):
    pipeline = [dict(type='LoadVideoFrames', max_frames=MAX_FRAMES, sample_fps=1),
                dict(type='TokenizeCaptions', max_words=MAX_WORDS),
                dict(type='PackRetrievalInputs', max_frames=MAX_FRAMES)]
    common = dict(type='MSRVTTRetrievalDataset', data_root=str(root),
                  data_prefix=dict(video='videos'), pipeline=pipeline)
    if split == 'train':
        return dict(common, ann_file='annotations/MSRVTT_train.9k.csv',
                    sentences_file='annotations/MSRVTT_data.json')
    return dict(common, ann_file='annotations/MSRVTT_JSFUSION_test.csv', test_mode=True)


def cached_dataset(path, split):
    return dict(type='CachedFeatureDataset', feature_file=str(path), test_mode=split == 'test')


def make_config(work_dir, train_dataset, test_dataset, stage2=False, **encoder):
    model = dict(
        type='DiffusionRet',
        encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', pretrained=None,
                     freeze_patch_embed=False, temporal_layers=1, temporal_heads=2, **encoder),
        similarity_head=dict(type='WTISimilarityHead', embed_dim=64, hidden_dim=128),
        data_preprocessor=dict(type='RetrievalDataPreprocessor'))
    if stage2:
        model['reranker'] = RERANKER
    return Config(dict(
        default_scope='mmdret',
        work_dir=str(work_dir),
        model=model,
        train_dataloader=loader(train_dataset, 8),
        val_dataloader=loader(test_dataset, 4),
        test_dataloader=loader(test_dataset, 4),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=5),
        val_cfg=dict(type='RetrievalValLoop', query_chunk_size=4),
        val_evaluator=dict(type='TextVideoRetrievalMetric'),
        test_cfg=dict(type='RetrievalTestLoop', query_chunk_size=4),
        test_evaluator=dict(type='TextVideoRetrievalMetric'),
        custom_hooks=[dict(type='FeatureCacheCheckHook')],
        default_hooks=dict(logger=dict(type='LoggerHook'),
                           checkpoint=dict(type='CheckpointHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING',
        randomness=dict(seed=0)))


def build_model(cfg, checkpoint):
    model = MODELS.build(cfg.model)
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    model.load_state_dict(state, strict=False)
    return model.eval()


def batches(dataset_cfg, batch_size):
    return Runner.build_dataloader(loader(dataset_cfg, batch_size))


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    register_all_modules()
    tmp = tmp_path_factory.mktemp('extract')
    demo = load_tool('data', 'make_demo_dataset.py')
    data = tmp / 'data'
    demo.make_demo_dataset(data, train_per_combination=1, test_groups=2, size=32, num_frames=8,
                           captions_per_video=2)
    stage1 = make_config(tmp / 'work', video_dataset(data, 'train'), video_dataset(data, 'test'))
    stage1_file = tmp / 'stage1.py'
    stage1.dump(str(stage1_file))
    torch.manual_seed(0)
    model = MODELS.build(stage1.model)
    checkpoint = tmp / 'stage1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    # The stage-2 checkpoint: the stage-1 weights plus freshly initialised denoisers.
    stage2_cfg = make_config(tmp / 'work', video_dataset(data, 'train'),
                             video_dataset(data, 'test'), stage2=True)
    torch.manual_seed(1)
    stage2_model = MODELS.build(stage2_cfg.model)
    stage2_model.load_state_dict(model.state_dict(), strict=False)
    stage2_checkpoint = tmp / 'stage2.pth'
    torch.save({'state_dict': stage2_model.state_dict(), 'meta': {}}, stage2_checkpoint)

    extract = load_tool('extract_features.py')
    outputs = extract.main([str(stage1_file), str(checkpoint), '--split', 'both',
                            '--out', str(tmp / 'features_{split}.pth')])
    return dict(tmp=tmp, data=data, stage1=stage1, stage1_file=stage1_file,
                checkpoint=checkpoint, stage2_checkpoint=stage2_checkpoint, outputs=outputs,
                fingerprint=encoder_fingerprint(stage1.model.encoder, model.encoder))


def test_cache_format(env):
    outputs = env['outputs']
    assert set(outputs) == {'train', 'test'}
    train = torch.load(outputs['train'], weights_only=True)
    test = torch.load(outputs['test'], weights_only=True)
    # 144 train videos x 2 captions; 2 test groups x 4 directions, one JSFusion caption each.
    for cache, videos, texts in ((train, 144, 288), (test, 8, 8)):
        meta = cache['meta']
        assert meta['format'] == 'mmdret-feature-cache' and meta['format_version'] == 1
        for key in ('fingerprint', 'encoder_config_sha1', 'encoder_state_sha1'):
            assert meta[key] == env['fingerprint'][key]
        assert meta['checkpoint'] == str(env['checkpoint'])
        assert (meta['max_words'], meta['max_frames'], meta['embed_dim']) == (MAX_WORDS,
                                                                               MAX_FRAMES, 64)
        assert meta['dtype'] == 'float32' and meta['mmdret_version']
        assert (meta['num_videos'], meta['num_texts'], meta['num_corrupt']) == (videos, texts, 0)
        assert cache['texts']['tokens'].shape == (texts, MAX_WORDS, 64)
        assert cache['texts']['token_mask'].shape == (texts, MAX_WORDS)
        assert cache['texts']['eot'].shape == (texts, 64)
        assert len(cache['texts']['caption']) == texts
        assert cache['videos']['frames'].shape == (videos, MAX_FRAMES, 64)
        assert cache['videos']['frame_mask'].shape == (videos, MAX_FRAMES)
        assert len(cache['videos']['video_id']) == videos
        # 8 frames at 2 fps read at 1 fps: 4 real frames, 2 padded.
        assert cache['videos']['frame_mask'].sum(1).tolist() == [4] * videos
    # Captions in global text order, two per training video.
    assert train['texts']['video_index'].tolist() == [i // 2 for i in range(288)]
    train_ds = Runner.build_dataloader(loader(video_dataset(env['data'], 'train'), 1)).dataset
    assert train['texts']['caption'] == [train_ds.get_data_info(i)['texts'][0]
                                         for i in range(288)]
    assert train['videos']['video_id'][:3] == [train_ds.get_data_info(i)['video_id']
                                               for i in (0, 2, 4)]


def test_split_option_and_fp16(env):
    extract = load_tool('extract_features.py')
    out = env['tmp'] / 'half.pth'
    assert extract.main([str(env['stage1_file']), str(env['checkpoint']), '--split', 'test',
                         '--fp16', '--batch-size', '3', '--out', str(out)]) == {'test': str(out)}
    half = torch.load(out, weights_only=True)
    full = torch.load(env['outputs']['test'], weights_only=True)
    assert half['meta']['dtype'] == 'float16' and half['videos']['frames'].dtype == torch.float16
    assert torch.allclose(half['videos']['frames'].float(), full['videos']['frames'], atol=2e-2)
    assert half['meta']['fingerprint'] == full['meta']['fingerprint']


def collect(model, dataloader):
    texts, videos = [], []
    with torch.no_grad():
        for data_batch in dataloader:
            features = model(**model.data_preprocessor(data_batch, False), mode='tensor')
            texts.append(features['text'])
            videos.append(features['video'])
    return [{k: torch.cat([part[k] for part in parts]) for k in parts[0]}
            for parts in (texts, videos)]


def test_stage1_scores_equal_decode_path(env):
    model = build_model(env['stage1'], env['checkpoint'])
    decoded = collect(model, batches(video_dataset(env['data'], 'test'), 3))
    cached = collect(model, batches(cached_dataset(env['outputs']['test'], 'test'), 3))
    for decoded_part, cached_part in zip(decoded, cached):
        assert decoded_part.keys() == cached_part.keys()
        for key in decoded_part:
            assert torch.allclose(decoded_part[key].float(), cached_part[key].float(),
                                  atol=1e-5), key
    (dt, dv), (ct, cv) = decoded, cached
    assert torch.allclose(model.score('t2v', dt, dv), model.score('t2v', ct, cv), atol=1e-5)
    assert torch.allclose(model.score('v2t', dv, dt), model.score('v2t', cv, ct), atol=1e-5)


def test_stage2_generation_loss_equal_decode_path(env):
    cfg = make_config(env['tmp'] / 'work', None, None, stage2=True)
    model = build_model(cfg, env['stage2_checkpoint'])
    decoded = iter(batches(video_dataset(env['data'], 'train'), 8))
    cached = iter(batches(cached_dataset(env['outputs']['train'], 'train'), 8))
    for _ in range(2):
        losses, metas = [], []
        for data_batch in (next(decoded), next(cached)):
            data = model.data_preprocessor(data_batch, True)
            assert not data['inputs']['text_mask'].is_floating_point()
            metas.append([(s.video_idx, s.text_idx) for s in data['data_samples']])
            torch.manual_seed(123)
            losses.append(model(**data, mode='loss'))
        assert metas[0] == metas[1]
        assert losses[0].keys() == losses[1].keys() >= {'loss_generation_t2v',
                                                         'loss_generation_v2t'}
        for key in losses[0]:
            assert torch.allclose(losses[0][key], losses[1][key], atol=1e-5), key


def stage2_config(env, cached, name, **encoder):
    data, outputs = env['data'], env['outputs']
    if cached:
        train, test = (cached_dataset(outputs[s], s) for s in ('train', 'test'))
    else:
        train, test = (video_dataset(data, s) for s in ('train', 'test'))
    cfg = make_config(env['tmp'] / name, train, test, stage2=True, **encoder)
    path = env['tmp'] / f'{name}.py'
    cfg.dump(str(path))
    return path


def test_stage2_test_metrics_equal_decode_path(env):
    test_tool = load_tool('test.py')
    checkpoint = str(env['stage2_checkpoint'])
    decoded = test_tool.main([str(stage2_config(env, False, 'decoded')), checkpoint])
    cached = test_tool.main([str(stage2_config(env, True, 'cached')), checkpoint])
    assert decoded.keys() == cached.keys()
    assert any(key.endswith('R1') for key in decoded)
    for key in decoded:
        assert decoded[key] == pytest.approx(cached[key]), key


def test_stage2_trains_from_cache(env):
    cfg = Config.fromfile(str(stage2_config(env, True, 'train_cached')))
    cfg.load_from = str(env['checkpoint'])
    cfg.train_dataloader.num_batch_per_epoch = 2
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.reranker.state_dict().items()}
    runner.train()
    after = runner.model.reranker.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    hook, = [h for h in runner.hooks if type(h).__name__ == 'FeatureCacheCheckHook']
    # The cached train set (seen through the runner's num_batch_per_epoch slicing) and the
    # cached val set (validated after the last epoch).
    assert hook._checked == {id(runner.train_loop.dataloader.dataset._dataset),
                             id(runner.val_loop.dataloader.dataset)}


def assert_refusal(message, cache_file, differs):
    assert str(cache_file) in message
    assert differs in message
    fingerprints = re.findall(r'fingerprint ([0-9a-f]{40})', message)
    assert len(set(fingerprints)) == 2, message
    assert 'tools/extract_features.py' in message and '--out' in message


def test_cache_of_another_encoder_is_refused(env):
    torch.manual_seed(7)
    other = MODELS.build(env['stage1'].model)
    other_checkpoint = env['tmp'] / 'other_stage1.pth'
    torch.save({'state_dict': other.state_dict(), 'meta': {}}, other_checkpoint)
    test_tool = load_tool('test.py')
    config = stage2_config(env, True, 'cached_other')
    with pytest.raises(ValueError) as error:
        # A stage-1 checkpoint: the cache check must refuse it even when the missing
        # re-ranker weights are allowed.
        test_tool.main([str(config), str(other_checkpoint), '--allow-missing-reranker'])
    assert_refusal(str(error.value), env['outputs']['test'], 'differs in: encoder weights)')


def test_cache_of_another_encoder_config_is_refused(env):
    # Same weights, but an encoder setting that changes the features (LayerNorm eps).
    test_tool = load_tool('test.py')
    config = stage2_config(env, True, 'cached_eps', temporal_ln_eps=1e-5)
    with pytest.raises(ValueError) as error:
        test_tool.main([str(config), str(env['stage2_checkpoint'])])
    assert_refusal(str(error.value), env['outputs']['test'], 'differs in: encoder config)')


def test_training_refuses_foreign_cache(env):
    # No load_from: the stage-2 model has a random encoder.
    cfg = Config.fromfile(str(stage2_config(env, True, 'train_foreign')))
    cfg.randomness = dict(seed=5)  # seed 0 would rebuild the stage-1 weights
    cfg.train_dataloader.num_batch_per_epoch = 1
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as error:
        runner.train()
    assert_refusal(str(error.value), env['outputs']['train'], 'encoder weights')


def test_missing_cache_names_the_command(env):
    test_tool = load_tool('test.py')
    config = stage2_config(env, True, 'cached_missing')
    missing = env['tmp'] / 'missing_test.pth'
    with pytest.raises(FileNotFoundError) as error:
        test_tool.main([str(config), str(env['stage2_checkpoint']), '--cfg-options',
                        f'test_dataloader.dataset.feature_file={missing}'])
    message = str(error.value)
    assert str(missing) in message
    assert 'python tools/extract_features.py' in message and '--split test' in message


def test_extract_rejects_foreign_checkpoint(env, tmp_path):
    extract = load_tool('extract_features.py')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'something.else': torch.zeros(1)}}, bad)
    with pytest.raises(KeyError, match='encoder weights'):
        extract.main([str(env['stage1_file']), str(bad), '--split', 'test',
                      '--out', str(tmp_path / 'x.pth')])


def test_undecodable_video_is_cached_masked(env, tmp_path):
    data = tmp_path / 'data'
    shutil.copytree(env['data'], data)
    test_ds = Runner.build_dataloader(loader(video_dataset(data, 'test'), 1)).dataset
    broken = test_ds.get_data_info(3)
    Path(broken['filename']).write_bytes(b'not a video')
    extract = load_tool('extract_features.py')
    out = tmp_path / 'test.pth'
    extract.main([str(env['stage1_file']), str(env['checkpoint']), '--split', 'test', '--out',
                  str(out), '--cfg-options', f'test_dataloader.dataset.data_root={data}'])
    cache = torch.load(out, weights_only=True)
    assert cache['meta']['num_corrupt'] == 1
    assert cache['videos']['corrupt'].tolist() == [i == 3 for i in range(8)]
    assert cache['videos']['frame_mask'][3].sum() == 0
    assert cache['videos']['frame_mask'].sum() == 4 * 7
    # The cached test set keeps it (masked, flagged), as the decode path's 'mask' policy does.
    from mmdret.datasets import CachedFeatureDataset
    item = CachedFeatureDataset(str(out), test_mode=True)[3]
    assert item['data_samples'].corrupt_video is True


def test_model_without_stage1_features_is_refused_before_building():
    extract = load_tool('extract_features.py')
    register_all_modules()
    with pytest.raises(TypeError, match="'XPool'.*DiffusionRet"):
        extract.build_model(Config(dict(model=dict(type='XPool'))), 'never_read.pth')
