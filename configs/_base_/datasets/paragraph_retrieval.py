# Paragraph-to-video retrieval (ActivityNet Captions, DiDeMo): the official 64 words and 64
# frames, otherwise the shared retrieval setting.
_base_ = './video_retrieval.py'

max_words = {{_base_.paragraph_words}}
max_frames = {{_base_.paragraph_frames}}
train_pipeline = {{_base_.paragraph_pipeline}}
test_pipeline = train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
