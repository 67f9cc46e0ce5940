# Out-of-domain test: the MSRVTT-9k stage-2 model (trained on MSRVTT only) evaluated on the
# LSMDC test split, unchanged: its annotations, videos and input setting (32 words,
# 12 frames at 1 fps), as in configs/_base_/datasets/lsmdc.py (tests/configs checks they agree).
# Use with tools/test.py and the MSRVTT stage-2 checkpoint.
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

val_dataloader = dict(
    dataset=dict(_delete_=True,
                 type='LSMDCRetrievalDataset',
                 data_root='data/lsmdc',
                 ann_file='annotations/LSMDC16_challenge_1000_publictect.csv',
                 data_prefix=dict(video='videos'),
                 pipeline={{_base_.clip_pipeline}},
                 test_mode=True))
test_dataloader = val_dataloader
