# LSMDC (LSMDC16 challenge): training clips (all their sentences), the 1000-clip public test.
# Official tab-separated files; videos <movie>/<clip_id>.avi (LSMDCRetrievalDataset.video_layout).
dataset_type = 'LSMDCRetrievalDataset'
data_root = 'data/lsmdc'
max_words = 32
max_frames = 12
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
        ann_file='annotations/LSMDC16_annos_training.csv',
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
        ann_file='annotations/LSMDC16_challenge_1000_publictect.csv',
        data_prefix=dict(video='videos'),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader  # the official code has no LSMDC val loader: val = test

val_evaluator = dict(type='TextVideoRetrievalMetric')
test_evaluator = val_evaluator
