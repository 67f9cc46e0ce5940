# DiffusionRet stage 2 on Charades: the stage-1 Charades model frozen, the MSRVTT stage-2 recipe.
# mmengine cannot merge two bases that both define `model`, so the reranker block repeats
# diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py (tests/configs/test_configs_load.py checks
# that they stay equal).
_base_ = './diffusionret_stage1_vit-b-32_4xb32-5e_charades.py'

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
load_from = 'work_dirs/diffusionret_stage1_vit-b-32_4xb32-5e_charades/best.pth'
