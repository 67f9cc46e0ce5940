# DITS (NeurIPS 2024) on MSR-VTT 9k / 1k-A, CLIP ViT-B/32, 1 GPU x 32, 5 epochs (dits.md §1.3).
_base_ = [
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/default_runtime.py',
]
clip_weights = 'checkpoints/clip/ViT-B-32.pt'  # local OpenAI ViT-B-32.pt
embed_dim = 512
max_epochs = 5
noclip_lr = 3e-5  # MSR-VTT (1e-5 on the other datasets)
clip_lr = 1e-5  # paper ("same as X-Pool"); the X-Pool/T-MASS code default is 1e-6

model = dict(
    type='DITS',
    encoder=dict(
        type='CLIPTextFrameEncoder', arch='ViT-B-32', pretrained=clip_weights, quick_gelu=True,
        # X-Pool fine-tunes all of CLIP (incl. the patch embedding); no temporal transformer.
        freeze_patch_embed=False, temporal_layers=0),
    pooling=dict(type='XPoolFramePooling', embed_dim=embed_dim, num_heads=1, dropout=0.3),
    aligner=dict(
        type='DITSAligner', embed_dim=embed_dim, depth=4, num_heads=16, mlp_ratio=4.0,
        truncated_steps=10, condition='none',
        scheduler=dict(type='DDPMScheduler', beta_schedule='linear',
                       schedule_kwargs=dict(beta_start=0.1, beta_end=0.99,
                                            reference_steps=None))),
    gap_direction='v-t',
    pool_query='text',
    freeze_clip=False,
    noise_at_test=True,
    noise_seed=24,
    contrastive_loss=dict(type='SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))

# X-Pool trains on every (video, caption) pair of the 9k split each epoch, 32 per batch, 1 GPU.
train_dataloader = dict(batch_size=32, drop_last=True)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

# X-Pool optimiser: AdamW (eps 1e-6) on all parameters with weight decay 0.2, two lrs split by
# the 'clip.' name prefix, grad-norm clip 1.0, 10% linear warm-up then cosine, per iteration.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=noclip_lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.2),
    paramwise_cfg=dict(custom_keys={'clip.': dict(lr_mult=clip_lr / noclip_lr)}),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='RetrievalValLoop', query_chunk_size=32, tie_rule='pessimistic')
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
auto_scale_lr = dict(enable=False, base_batch_size=32)
randomness = dict(seed=24)
