# Out-of-domain test: the MSRVTT-9k stage-2 model (trained on MSRVTT only) evaluated on the
# ActivityNet Captions test split, unchanged: its annotations, videos and input setting (64 words,
# 64 frames at 1 fps), as in configs/_base_/datasets/activitynet.py (tests/configs checks they agree).
# Use with tools/test.py and the MSRVTT stage-2 checkpoint.
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

val_dataloader = dict(
    dataset=dict(_delete_=True,
                 type='ActivityNetRetrievalDataset',
                 data_root='data/activitynet',
                 ann_file='annotations/val_1.json',
                 ids_file='annotations/val_ids.json',
                 data_prefix=dict(video='videos'),
                 pipeline={{_base_.paragraph_pipeline}},
                 test_mode=True))
test_dataloader = val_dataloader
