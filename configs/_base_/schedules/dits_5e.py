# X-Pool / DITS optimisation (DITS paper Sec. 4.1): AdamW (eps 1e-6) on all parameters, weight decay
# 0.2, two lrs split by the 'clip.' name prefix, grad-norm clip 1.0, 10% linear warm-up then
# cosine per iteration, 5 epochs (batch 32 on 1 GPU and seed 24 are set by each config).
max_epochs = 5
noclip_lr = 3e-5  # MSR-VTT; 1e-5 on the other datasets (their configs override it)
clip_lr = 1e-5  # paper ("same as X-Pool"); the X-Pool/T-MASS code default is 1e-6

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=noclip_lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.2),
    paramwise_cfg=dict(custom_keys={'clip.': dict(lr_mult=clip_lr / noclip_lr)}),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
# X-Pool evaluates on the test split (no separate validation split for MSRVTT-1kA).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='RetrievalValLoop', query_chunk_size=32, tie_rule='pessimistic')
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
auto_scale_lr = dict(enable=False, base_batch_size=32)
