# DITS ablation (paper Sec. 3.2, Table 3 "pretrain"): the vanilla diffusion on the gap
# δ = v - t, stage 1 of 2. CLIP and the pooling are fixed (from a trained X-Pool); only the DiT
# (condition c = t) trains, by the L2 ε-regression on δ₀ = pool(t, v) - t with a 10-step DDPM
# (Eq. 7: σ² = β). Evaluation runs the reverse chain from δ_T ~ N(0, I). Paper MSRVTT R@1: 35.4.
_base_ = './dits_vit-b-32_1xb32-5e_msrvtt-9k.py'

model = dict(
    variant='vanilla',
    condition='text',
    vanilla_pretrain=True,
    vanilla_pretrain_loss='l2',  # Table 7: L2 beats L1
    vanilla_scheduler=dict(
        type='DDPMScheduler', num_train_timesteps=10, beta_schedule='linear',
        schedule_kwargs=dict(beta_start=0.1, beta_end=0.99, reference_steps=None),
        prediction_type='epsilon', variance_type='fixed_large',
        # x̂0 clamped as in Ho et al.'s sampler; False is Eq. 7 verbatim (unstable, see DITS).
        clip_sample=True, clip_sample_range=1.0))
custom_hooks = [dict(type='RequireLoadFromHook', what='a trained X-Pool checkpoint')]
load_from = 'work_dirs/xpool_vit-b-32_1xb32-5e_msrvtt-9k/best.pth'  # set to your X-Pool best
