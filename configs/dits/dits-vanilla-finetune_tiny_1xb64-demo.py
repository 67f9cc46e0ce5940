# Demo of the DITS vanilla-diffusion ablation, stage 2: joint InfoNCE fine-tuning of CLIP,
# pooling and the reverse chain, from the vanilla-pretrain demo checkpoint.
_base_ = ['./dits-vanilla-pretrain_tiny_1xb64-demo.py']

model = dict(vanilla_pretrain=False)
custom_hooks = [dict(type='LogitScaleClampHook'),
                dict(type='RequireLoadFromHook', what='the vanilla-pretrain checkpoint')]
load_from = 'work_dirs/demo/dits-vanilla-pretrain/epoch_4.pth'
optim_wrapper = dict(optimizer=dict(lr=3e-4))  # fine-tuning a trained model
