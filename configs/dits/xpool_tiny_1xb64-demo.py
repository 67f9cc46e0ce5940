# Demo: X-Pool (the DITS baseline) on the generated moving-shapes data with a tiny CLIP trained
# from scratch. Data made by: python tools/data/make_demo_dataset.py
_base_ = [
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/demo_msrvtt'
image_size = 64
max_frames = 12
max_words = 32
embed_dim = 128

model = dict(
    type='XPool',
    encoder=dict(
        type='CLIPTextFrameEncoder', arch='tiny-128', pretrained=None,
        # X-Pool fine-tunes the whole CLIP and has no temporal transformer.
        freeze_patch_embed=False, temporal_layers=0, temporal_heads=2,
        # Demo-only motion stem (see the DiffusionRet demo config and the README).
        motion_stem_offset=2),
    pooling=dict(type='XPoolFramePooling', embed_dim=embed_dim, num_heads=1, dropout=0.3),
    contrastive_loss=dict(type='SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))

pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps=1),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=max_words),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
# Same sampling as the DiffusionRet demo: one random caption per video, block-shuffled batches.
train_dataloader = dict(
    batch_size=64, num_workers=1, persistent_workers=True,
    sampler=dict(type='BlockShuffleSampler', block_size=4),
    dataset=dict(data_root=data_root, pipeline=pipeline, caption_sampling='random'))
val_dataloader = dict(
    batch_size=50, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = val_dataloader

max_epochs = 16
# From scratch: one lr for CLIP and the rest (no pretrained CLIP to protect).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'clip.': dict(lr_mult=1.0)}),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='RetrievalValLoop', query_chunk_size=32, tie_rule='pessimistic')
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
