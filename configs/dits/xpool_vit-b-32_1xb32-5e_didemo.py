# X-Pool baseline with the DITS recipe on DiDeMo paragraph-to-video, CLIP ViT-B/32, 1 GPU x 32, 5
# epochs (dits.md §1.3): T-MASS flags --num_frame=12 --raw_video --noclip_lr=1e-5
# --transformer_dropout=0.4.
_base_ = [
    '../_base_/models/xpool_vit-b-32.py',
    '../_base_/datasets/didemo.py',
    '../_base_/schedules/dits_5e.py',
    '../_base_/default_runtime.py',
]

model = dict(pooling=dict(dropout=0.4))
noclip_lr = 1e-5
optim_wrapper = dict(optimizer=dict(lr=noclip_lr),
                     paramwise_cfg=dict(custom_keys={'clip.': dict(lr_mult=1.0)}))

max_frames = 12  # X-Pool/T-MASS sample 12 frames on every dataset (DiffusionRet: 64 on DiDeMo)
train_pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps={{_base_.sample_fps}}),
    dict(type='Resize', scale=(-1, {{_base_.image_size}}), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size={{_base_.image_size}}),
    dict(type='TokenizeCaptions', max_words={{_base_.max_words}}),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
test_pipeline = train_pipeline
train_dataloader = dict(batch_size=32, drop_last=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
randomness = dict(seed=24)  # the paper's seed
