# DITS on DiDeMo paragraph-to-video, CLIP ViT-B/32, 1 GPU x 32, 5 epochs (paper Sec. 4.1):
# T-MASS flags --num_frame=12 --raw_video --noclip_lr=1e-5 --transformer_dropout=0.4.
_base_ = [
    '../_base_/models/dits_vit-b-32.py',
    '../_base_/datasets/didemo_12f.py',  # T-MASS --num_frame=12
    '../_base_/schedules/dits_5e.py',
    '../_base_/default_runtime.py',
]

model = dict(pooling=dict(dropout=0.4), aligner=dict(truncated_steps=5))  # T' = 5 on DiDeMo
noclip_lr = 1e-5
optim_wrapper = dict(optimizer=dict(lr=noclip_lr),
                     paramwise_cfg=dict(custom_keys={'clip.': dict(lr_mult=1.0)}))

train_dataloader = dict(batch_size=32, drop_last=True)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
randomness = dict(seed=24)  # the paper's seed
