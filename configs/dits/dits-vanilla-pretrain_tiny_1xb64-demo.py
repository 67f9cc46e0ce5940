# Demo of the DITS vanilla-diffusion ablation, stage 1: ε-regression pretraining of the aligner
# on the gaps of the demo X-Pool (CLIP and pooling fixed). Needs work_dirs/demo/xpool first.
_base_ = ['./dits_tiny_1xb64-demo.py']

model = dict(
    variant='vanilla',
    condition='text',
    vanilla_pretrain=True,
    vanilla_pretrain_loss='l2',
    vanilla_scheduler=dict(
        type='DDPMScheduler', num_train_timesteps=10, beta_schedule='linear',
        schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None),
        prediction_type='epsilon', variance_type='fixed_large',
        # x̂0 clamped as in Ho et al.'s sampler; False is Eq. 7 verbatim (unstable, see DITS).
        clip_sample=True, clip_sample_range=1.0))
custom_hooks = [dict(type='RequireLoadFromHook', what='a trained X-Pool checkpoint')]
load_from = 'work_dirs/demo/xpool/epoch_16.pth'
max_epochs = 4
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
