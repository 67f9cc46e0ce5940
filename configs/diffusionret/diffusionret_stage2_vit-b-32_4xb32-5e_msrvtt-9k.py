# Paper recipe, stage 2 (generation): the stage-1 model frozen, the two denoisers trained with the
# same optimiser and schedule (official README command with --stage generation). Official
# defaults (spec §4): x0-prediction, cosine schedule, 50 steps, CE ("KL") loss with d_temp 100,
# 127 hardest negatives, DDIM (eta 0) re-ranking of the top 32, alpha 1, temp 1.
_base_ = './diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py'

model = dict(
    reranker=dict(
        type='DiffusionReranker',
        t2v_denoiser=dict(type='TextToVideoDenoiser', width=512, temp=1.0),
        v2t_denoiser=dict(type='VideoToTextDenoiser', width=512, temp=1.0),
        scheduler=dict(type='DDIMScheduler', num_train_timesteps=50, beta_schedule='cosine',
                       prediction_type='sample', eta=0.0),
        loss=dict(type='GenerationCELoss', d_temp=100.0),
        num_negatives=127,
        negative_value=0.0,
        num_inference_steps=50,
        topk=32,
        alpha=dict(t2v=1.0, v2t=1.0),
        temp=dict(t2v=1.0, v2t=1.0),
        seed=0))
# Replaces the stage-1 hook list: the logit scale is frozen in stage 2, nothing to clamp.
custom_hooks = [dict(type='RequireLoadFromHook', what='the stage-1 checkpoint')]
load_from = 'work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k/best.pth'
