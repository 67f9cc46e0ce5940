# VATEX (English captions), the HGR split used by DITS: 25,991 training videos; 1,500 test videos
# drawn from the official validation set. The split lists (one videoID per line) come with HGR,
# not with VATEX: put them in annotations/ under these names. Test is multi-caption (10 each).
dataset_type = 'VATEXRetrievalDataset'
data_root = 'data/vatex'
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
        ann_file='annotations/vatex_training_v1.0.json',
        split_file='annotations/hgr_train_ids.txt',
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
        ann_file='annotations/vatex_validation_v1.0.json',
        split_file='annotations/hgr_test_ids.txt',
        data_prefix=dict(video='videos'),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='TextVideoRetrievalMetric')
test_evaluator = val_evaluator
