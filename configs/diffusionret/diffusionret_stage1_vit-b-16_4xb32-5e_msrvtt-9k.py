# Stage 1 on MSRVTT-9k with CLIP ViT-B/16 (the paper recipe of the ViT-B/32 config otherwise).
_base_ = './diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py'

clip_weights = 'checkpoints/clip/ViT-B-16.pt'
model = dict(encoder=dict(arch='ViT-B-16', pretrained=clip_weights))
