# DiffusionRet stage 2: the generation re-ranker as a variable, so that every stage-2 config (a
# stage-1 config plus `model = dict(reranker={{_base_.reranker}})`) shares one copy. Official
# defaults: x0-prediction, cosine schedule, 50 steps, CE ("KL") loss with d_temp 100,
# 127 hardest negatives, DDIM (eta 0) re-ranking of the top 32, alpha 1, temp 1.
reranker = dict(
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
    seed=0)
