# Demo stage 2: the two denoisers (width 128, official defaults otherwise) on the frozen demo
# stage-1 model, trained and evaluated from the stage-1 feature cache (the encoder is frozen, so
# videos are decoded once):
#   python tools/extract_features.py configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py \
#       STAGE1_CKPT --out 'work_dirs/demo/features/stage1_{split}.pth'
_base_ = './diffusionret_stage1_tiny_1xb64-demo.py'

feature_dir = 'work_dirs/demo/features'
model = dict(
    reranker=dict(
        type='DiffusionReranker',
        t2v_denoiser=dict(type='TextToVideoDenoiser', width=128),
        v2t_denoiser=dict(type='VideoToTextDenoiser', width=128),
        num_negatives=63))
train_dataloader = dict(
    dataset=dict(_delete_=True, type='CachedFeatureDataset',
                 feature_file=f'{feature_dir}/stage1_train.pth', caption_sampling='random'))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='CachedFeatureDataset',
                 feature_file=f'{feature_dir}/stage1_test.pth', test_mode=True))
test_dataloader = val_dataloader
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint'),
                dict(type='FeatureCacheCheckHook')]
load_from = 'work_dirs/demo/stage1/epoch_8.pth'
max_epochs = 5
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
