# Official stage-1 optimisation: BertAdam, 4 param groups, warmup-cosine over 5 epochs.
max_epochs = 5
base_lr = 1e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='BertAdam', lr=base_lr, betas=(0.9, 0.98), eps=1e-6,
                   weight_decay=0.2, max_grad_norm=1.0),
    constructor='DiffusionRetOptimWrapperConstructor',
    paramwise_cfg=dict(clip_prefixes=('encoder.clip.',), clip_lr_mult=1e-3,
                       no_decay_keys=('bias', 'LayerNorm.bias', 'LayerNorm.weight')),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_ratio=0.1, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='RetrievalValLoop', query_chunk_size=32, tie_rule='pessimistic')
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
# The official recipe: 4 GPUs x 32 = global batch 128 (the contrastive matrix is global).
auto_scale_lr = dict(enable=False, base_batch_size=128)
