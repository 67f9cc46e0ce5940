_base_ = 'mmaction::_base_/default_runtime.py'

default_scope = 'mmdret'
custom_imports = dict(imports=['mmdret'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='retrieval/t2v_R1',
                    rule='greater'))
custom_hooks = [dict(type='LogitScaleClampHook')]
randomness = dict(seed=42)  # official seed
