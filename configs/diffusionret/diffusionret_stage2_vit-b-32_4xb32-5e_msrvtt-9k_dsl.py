# Test-time dual softmax (DSL, CAMoE): scores * softmax(100 * scores) over all queries of each
# direction. Not part of the DiffusionRet paper protocol: report it separately.
# Every query is scored twice (the normaliser needs all queries first).
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

val_cfg = dict(post_processor=dict(type='DualSoftmax', temperature=100.0))
test_cfg = val_cfg
