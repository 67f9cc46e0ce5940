# DiDeMo paragraph-to-video retrieval: {train,test}_data.json + {train,test}_list.txt, one
# paragraph per video, 64 words and 64 frames; video files named as in the annotations.
dataset_type = 'DiDeMoRetrievalDataset'
data_root = 'data/didemo'
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
        ann_file='annotations/train_data.json',
        list_file='annotations/train_list.txt',
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
        ann_file='annotations/test_data.json',
        list_file='annotations/test_list.txt',
        data_prefix=dict(video='videos'),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader  # the official code validates on the test split

val_evaluator = dict(type='TextVideoRetrievalMetric')
test_evaluator = val_evaluator
