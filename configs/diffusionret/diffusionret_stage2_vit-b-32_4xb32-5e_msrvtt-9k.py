# Paper recipe, stage 2 (generation): the stage-1 model frozen, the two denoisers trained with the
# same optimiser and schedule (official README command with --stage generation).
_base_ = [
    './diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py',
    '../_base_/models/diffusionret_reranker.py',
]
load_from = 'work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k/best.pth'
