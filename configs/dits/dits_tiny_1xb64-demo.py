# Demo: DITS on the generated moving-shapes data; X-Pool demo + the truncated-diffusion aligner.
_base_ = ['./xpool_tiny_1xb64-demo.py']

model = dict(
    type='DITS',
    # Paper settings (T' = 10, no condition, δ = v - t, joint training) at the demo width, except
    # the β range: the paper's linear 0.1 -> 0.99 adds noise of norm √(128 Σβ) ≈ 25 to text
    # embeddings of a from-scratch CLIP; measured on this demo, training then stays at chance
    # (loss ln 64, R@1 1.0, docs/dits.md). 1e-4 -> 0.02 (DDPM's own range) keeps the chain's
    # noise below the text's scale.
    aligner=dict(type='DITSAligner', embed_dim={{_base_.embed_dim}}, depth=4, num_heads=16,
                 mlp_ratio=4.0, truncated_steps=10, condition='none',
                 scheduler=dict(type='DDPMScheduler', beta_schedule='linear',
                                schedule_kwargs=dict(beta_start=1e-4, beta_end=0.02,
                                                     reference_steps=None))),
    gap_direction='v-t',
    pool_query='text',
    freeze_clip=False,
    noise_at_test=True,
    noise_seed=24)
