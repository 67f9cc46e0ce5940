# DiffusionRet stage 2 on LSMDC: the stage-1 LSMDC model frozen, the MSRVTT stage-2 recipe.
_base_ = [
    './diffusionret_stage1_vit-b-32_4xb32-5e_lsmdc.py',
    '../_base_/models/diffusionret_reranker.py',
]

model = dict(reranker={{_base_.reranker}})
# Replaces the stage-1 hook list: the logit scale is frozen in stage 2, nothing to clamp.
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint')]
load_from = 'work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_lsmdc/best.pth'
