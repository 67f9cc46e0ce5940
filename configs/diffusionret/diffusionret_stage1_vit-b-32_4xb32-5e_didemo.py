# DiffusionRet stage 1 on DiDeMo: the MSRVTT paper recipe (model, optimiser, schedule, 4 GPUs x 32)
# with the DiDeMo data (64 words, 64 frames at 1 fps). The official repo gives no training command for
# this dataset; these are the CLIP4Clip-family settings.
_base_ = [
    '../_base_/models/diffusionret_vit-b-32.py',
    '../_base_/datasets/didemo.py',
    '../_base_/schedules/diffusionret_stage1_5e.py',
    '../_base_/default_runtime.py',
]
clip_weights = 'checkpoints/clip/ViT-B-32.pt'
model = dict(encoder=dict(pretrained=clip_weights))
