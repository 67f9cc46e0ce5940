# Paper recipe, stage 2 (generation): the stage-1 model frozen, the two denoisers trained with the
# same optimiser and schedule (official README command with --stage generation), with the
# official re-ranker defaults of _base_/models/diffusionret_reranker.py.
_base_ = [
    './diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py',
    '../_base_/models/diffusionret_reranker.py',
]

model = dict(reranker={{_base_.reranker}})
# Replaces the stage-1 hook list: the logit scale is frozen in stage 2, nothing to clamp.
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint')]
load_from = 'work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k/best.pth'
