# DITS (NeurIPS 2024): X-Pool plus the truncated-diffusion aligner (paper Sec. 3), paper settings:
# DiT N=4 / 16 heads / MLP 4 / d=512, T' = 10, no condition, gap δ = v - t, joint training.
_base_ = ['./xpool_vit-b-32.py']

model = dict(
    type='DITS',
    aligner=dict(
        type='DITSAligner', embed_dim={{_base_.embed_dim}}, depth=4, num_heads=16,
        mlp_ratio=4.0, truncated_steps=10, condition='none',
        scheduler=dict(type='DDPMScheduler', beta_schedule='linear',
                       schedule_kwargs=dict(beta_start=0.1, beta_end=0.99,
                                            reference_steps=None))),
    gap_direction='v-t',
    pool_query='text',
    freeze_clip=False,
    noise_at_test=True,
    noise_seed=24)
