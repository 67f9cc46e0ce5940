# Paragraph-to-video retrieval (ActivityNet Captions, DiDeMo): the official 64 words and 64
# frames, otherwise the shared retrieval setting.
_base_ = './video_retrieval.py'

max_words = 64
max_frames = 64
train_pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps={{_base_.sample_fps}}),
    dict(type='Resize', scale=(-1, {{_base_.image_size}}), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size={{_base_.image_size}}),
    dict(type='TokenizeCaptions', max_words=max_words),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
test_pipeline = train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
