# The ViT-B/16 variant of dits_vit-b-32_1xb32-5e_didemo.py (HF openai/clip-vit-base-patch16).
_base_ = './dits_vit-b-32_1xb32-5e_didemo.py'

clip_weights = 'checkpoints/clip/ViT-B-16.pt'  # local OpenAI ViT-B-16.pt
model = dict(encoder=dict(arch='ViT-B-16', pretrained=clip_weights))
