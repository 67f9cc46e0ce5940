# DITS ablation (paper Sec. 3.2, Table 3 "fine-tune"), stage 2 of 2: the whole pipeline (CLIP,
# pooling and the vanilla reverse chain inside) trained with the symmetric InfoNCE, from the
# pretrained aligner. Paper MSRVTT R@1: 46.5 (X-Pool 46.9, DITS 51.9).
_base_ = './dits-vanilla-pretrain_vit-b-32_1xb32-5e_msrvtt-9k.py'

model = dict(vanilla_pretrain=False)
custom_hooks = [dict(type='LogitScaleClampHook'),
                dict(type='RequireLoadFromHook', what='the vanilla-pretrain checkpoint')]
load_from = 'work_dirs/dits-vanilla-pretrain_vit-b-32_1xb32-5e_msrvtt-9k/best.pth'
