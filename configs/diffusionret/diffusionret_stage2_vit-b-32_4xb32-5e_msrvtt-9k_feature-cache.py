# Stage 2 from a stage-1 feature cache: the same model and schedule as the paper recipe, with
# features extracted once by
#   python tools/extract_features.py configs/diffusionret/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py \
#       work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k/best.pth \
#       --out 'data/msrvtt/features/stage1_{split}.pth' --fp16
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

feature_dir = 'data/msrvtt/features'
train_dataloader = dict(
    num_workers=2,
    dataset=dict(_delete_=True, type='CachedFeatureDataset',
                 feature_file=f'{feature_dir}/stage1_train.pth'))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(_delete_=True, type='CachedFeatureDataset',
                 feature_file=f'{feature_dir}/stage1_test.pth', test_mode=True))
test_dataloader = val_dataloader
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint'),
                dict(type='FeatureCacheCheckHook')]
