# Out-of-domain test: the MSRVTT-9k stage-2 model (trained on MSRVTT only) evaluated on the
# VATEX test split, unchanged: its annotations, videos and input setting (32 words,
# 12 frames at 1 fps), as in configs/_base_/datasets/vatex.py (tests/configs checks they agree).
# Use with tools/test.py and the MSRVTT stage-2 checkpoint.
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

val_dataloader = dict(
    dataset=dict(_delete_=True,
                 type='VATEXRetrievalDataset',
                 data_root='data/vatex',
                 ann_file='annotations/vatex_validation_v1.0.json',
                 split_file='annotations/hgr_test_ids.txt',
                 data_prefix=dict(video='videos'),
                 pipeline={{_base_.clip_pipeline}},
                 test_mode=True))
test_dataloader = val_dataloader
