# Stage 2 (9k) evaluated with the multi-caption MSR-VTT protocol (all 20 captions per test video).
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

val_dataloader = dict(
    dataset=dict(sentences_file='annotations/MSRVTT_data.json', full_test_captions=True))
test_dataloader = val_dataloader
