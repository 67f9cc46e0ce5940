# Demo: stage 1 on the generated moving-shapes data (tools/data/make_demo_dataset.py) with a tiny
# CLIP trained from scratch. Data made by: python tools/data/make_demo_dataset.py
_base_ = [
    '../_base_/models/diffusionret_vit-b-32.py',
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/schedules/diffusionret_stage1_5e.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/demo_msrvtt'
image_size = 64
max_frames = 12
max_words = 32

model = dict(
    encoder=dict(
        arch='tiny-128', pretrained=None, freeze_patch_embed=False, temporal_layers=1,
        temporal_heads=2,
        # From-scratch ViTs do not learn motion from per-frame features in minutes; this
        # demo-only stem shows the patch embedding a later-frame difference (README: The demo).
        motion_stem_offset=2),
    similarity_head=dict(embed_dim=128, hidden_dim=256))

train_pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps=1),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=max_words),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
test_pipeline = train_pipeline  # also what the inferencer uses for galleries
# One random caption per video per epoch; batches of whole blocks (a shape/colour/size group's
# four directions, listed together by the generator) so every batch has hard negatives.
train_dataloader = dict(
    batch_size=64, num_workers=1, persistent_workers=True,
    sampler=dict(type='BlockShuffleSampler', block_size=4),
    dataset=dict(data_root=data_root, pipeline=train_pipeline, caption_sampling='random'))
val_dataloader = dict(
    batch_size=50, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 8
# From scratch the whole model learns at one lr (no pretrained CLIP to protect), with AdamW:
# BertAdam's missing bias correction suits fine-tuning, not training from random weights.
# fused: one kernel for all parameters (the 49408-row token embedding dominates the update).
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, betas=(0.9, 0.98), eps=1e-6,
                   weight_decay=0.05, fused=True),
    paramwise_cfg=dict(clip_lr_mult=1.0))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
