# Demo stage 2: denoisers on the frozen demo stage-1 model.
_base_ = [
    './diffusionret_stage1_tiny_1xb64-demo.py',
    '../_base_/models/diffusionret_reranker.py',
]
model = dict(
    reranker=dict(
        t2v_denoiser=dict(width=128),
        v2t_denoiser=dict(width=128),
        num_negatives=63))
load_from = 'work_dirs/diffusionret_stage1_tiny_1xb64-demo/epoch_6.pth'
max_epochs = 2
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
