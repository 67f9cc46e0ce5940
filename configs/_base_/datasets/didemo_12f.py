# DiDeMo as X-Pool / T-MASS read it (--num_frame=12): 12 frames per paragraph video instead of
# DiffusionRet's 64, otherwise configs/_base_/datasets/didemo.py.
_base_ = './didemo.py'

max_frames = 12
train_pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps={{_base_.sample_fps}}),
    dict(type='Resize', scale=(-1, {{_base_.image_size}}), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size={{_base_.image_size}}),
    dict(type='TokenizeCaptions', max_words={{_base_.max_words}}),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
test_pipeline = train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
