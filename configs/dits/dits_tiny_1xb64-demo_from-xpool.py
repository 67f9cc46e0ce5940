# Demo: DITS joint training started from the X-Pool demo's epoch-8 checkpoint (the stand-in for
# the paper's pretrained CLIP, which a from-scratch tiny CLIP does not have), 8 more epochs, so
# that it has the same number of steps as the 16-epoch X-Pool demo it is compared with.
_base_ = ['./dits_tiny_1xb64-demo.py']

load_from = 'work_dirs/demo/xpool/epoch_8.pth'
custom_hooks = [dict(type='LogitScaleClampHook'),
                dict(type='RequireLoadFromHook', what='the X-Pool demo checkpoint')]
max_epochs = 8
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
