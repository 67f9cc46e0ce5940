# Demo stage 2: the two denoisers (width 128, official defaults otherwise) on the frozen demo
# stage-1 model.
_base_ = './diffusionret_stage1_tiny_1xb64-demo.py'

model = dict(
    reranker=dict(
        type='DiffusionReranker',
        t2v_denoiser=dict(type='TextToVideoDenoiser', width=128),
        v2t_denoiser=dict(type='VideoToTextDenoiser', width=128),
        num_negatives=63))
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint')]
load_from = 'work_dirs/diffusionret_stage1_tiny_1xb64-demo/epoch_8.pth'
max_epochs = 2
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
