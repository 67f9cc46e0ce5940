# Paper recipe, stage 1 (discrimination): README command of the official code,
# 4 GPUs x 32 = 128 global batch, 5 epochs, lr 1e-4 (CLIP 1e-7), 32 words, 12 frames at 1 fps.
_base_ = [
    '../_base_/models/diffusionret_vit-b-32.py',
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/schedules/diffusionret_stage1_5e.py',
    '../_base_/default_runtime.py',
]
clip_weights = 'checkpoints/clip/ViT-B-32.pt'
model = dict(encoder=dict(pretrained=clip_weights))
