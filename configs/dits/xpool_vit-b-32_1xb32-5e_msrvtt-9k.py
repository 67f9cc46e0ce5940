# X-Pool baseline with the DITS recipe (MSR-VTT 9k / 1k-A, ViT-B/32, 1 GPU x 32, 5 epochs).
_base_ = [
    '../_base_/models/xpool_vit-b-32.py',
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/schedules/dits_5e.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=32, drop_last=True)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
randomness = dict(seed=24)  # the paper's seed
