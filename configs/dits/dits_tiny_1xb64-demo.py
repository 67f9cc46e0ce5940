# Demo: DITS on the generated moving-shapes data; X-Pool demo + the truncated-diffusion aligner.
_base_ = ['./xpool_tiny_1xb64-demo.py']

model = dict(
    type='DITS',
    # Paper settings (T' = 10, no condition, δ = v - t, joint training) at the demo width.
    aligner=dict(type='DITSAligner', embed_dim={{_base_.embed_dim}}, depth=4, num_heads=16,
                 mlp_ratio=4.0, truncated_steps=10, condition='none'),
    gap_direction='v-t',
    pool_query='text',
    freeze_clip=False,
    noise_at_test=True,
    noise_seed=24)
