# ActivityNet Captions paragraph-to-video retrieval: train.json / val_1.json (+ the CLIP4Clip id
# lists), one paragraph per video, 64 words and 64 frames (official eval command).
dataset_type = 'ActivityNetRetrievalDataset'
data_root = 'data/activitynet'
max_words = 64
max_frames = 64
sample_fps = 1
image_size = 224

train_pipeline = [
    dict(type='LoadVideoFrames', max_frames=max_frames, sample_fps=sample_fps),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=max_words),
    dict(type='PackRetrievalInputs', max_frames=max_frames),
]
test_pipeline = train_pipeline  # the official loader never augments

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        ids_file='annotations/train_ids.json',
        data_prefix=dict(video='videos'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val_1.json',
        ids_file='annotations/val_ids.json',
        data_prefix=dict(video='videos'),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader  # val_1 is the test set of the protocol

val_evaluator = dict(type='TextVideoRetrievalMetric')
test_evaluator = val_evaluator
