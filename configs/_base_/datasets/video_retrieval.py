# What every retrieval dataset base shares: the official loaders' input setting (32 words,
# 12 frames at 1 fps, 224 px, no augmentation) and the loaders. A dataset base sets
# dataset_type, data_root and its annotation files in train_dataloader / val_dataloader.
_base_ = './retrieval_pipelines.py'

max_words = {{_base_.clip_words}}
max_frames = {{_base_.clip_frames}}
train_pipeline = {{_base_.clip_pipeline}}
test_pipeline = train_pipeline  # the official loaders never augment

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # Frames and captions are joined into batch tensors in the workers (pseudo_collate works
    # too, with the joining done in the training process). mmengine's Runner looks collate
    # functions up from mmengine's root registry, which finds them by their import path.
    collate_fn=dict(type='mmdret.datasets.retrieval_collate'),
    dataset=dict(data_prefix=dict(video='videos'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='mmdret.datasets.retrieval_collate'),
    dataset=dict(data_prefix=dict(video='videos'), pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='TextVideoRetrievalMetric')
test_evaluator = val_evaluator
