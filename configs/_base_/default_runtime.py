_base_ = 'mmaction::_base_/default_runtime.py'

default_scope = 'mmdret'
custom_imports = dict(imports=['mmdret'], allow_failed_imports=False)
# Loads load_from / resume checkpoints weights-only with the exact mmengine allow-list.
runner_type = 'mmdret.SafeLoadRunner'

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='retrieval/t2v_R1',
                    rule='greater'),
    # Stops training at the first NaN/Inf loss term, gradient norm or weight (before any
    # checkpoint is saved) and refuses to evaluate non-finite weights. A default hook, so
    # that configs replacing custom_hooks keep it.
    non_finite=dict(type='NonFiniteCheckHook'),
    # The train steps' RNG streams go into checkpoints: --resume continues bit-identically.
    rng_state=dict(type='RNGStateHook'))
custom_hooks = [dict(type='LogitScaleClampHook')]
randomness = dict(seed=42)  # official seed
