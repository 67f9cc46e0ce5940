# DITS (NeurIPS 2024) on MSR-VTT 9k / 1k-A, CLIP ViT-B/32, 1 GPU x 32, 5 epochs (paper Sec. 4.1).
_base_ = [
    '../_base_/models/dits_vit-b-32.py',
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/schedules/dits_5e.py',
    '../_base_/default_runtime.py',
]
# X-Pool trains on every (video, caption) pair of the 9k split each epoch, 32 per batch, 1 GPU.
train_dataloader = dict(batch_size=32, drop_last=True)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
randomness = dict(seed=24)  # the paper's seed
