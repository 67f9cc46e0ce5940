# Out-of-domain test: the MSRVTT-9k stage-2 model (trained on MSRVTT only) evaluated on the
# Charades test split, unchanged: its annotations, videos and input setting (32 words,
# 12 frames at 1 fps), as in configs/_base_/datasets/charades.py (tests/configs checks they agree).
# Use with tools/test.py and the MSRVTT stage-2 checkpoint.
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

ood_max_words = 32
ood_max_frames = 12
ood_test_pipeline = [
    dict(type='LoadVideoFrames', max_frames=ood_max_frames, sample_fps=1),
    dict(type='Resize', scale=(-1, 224), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='TokenizeCaptions', max_words=ood_max_words),
    dict(type='PackRetrievalInputs', max_frames=ood_max_frames),
]
val_dataloader = dict(
    dataset=dict(_delete_=True,
                 type='CharadesRetrievalDataset',
                 data_root='data/charades',
                 ann_file='annotations/Charades_v1_test.csv',
                 data_prefix=dict(video='videos'),
                 pipeline=ood_test_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
