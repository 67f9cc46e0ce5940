# Test-time querybank normalisation (QB-Norm, dynamic inverted softmax, beta 20, k 1) with a
# query bank of training queries: the first 5,000 MSRVTT-9k training captions (t2v) and their
# 250 videos (v2t). The bank loader yields one item per caption (MSRVTTRetrievalDataset reads the
# training csv only in training mode), so each bank video is decoded once per caption; raise
# `indices` for a larger bank at proportional cost. With a stage-1 feature cache (see the
# _feature-cache config) a decode-free bank of all training queries is
# dict(type='CachedFeatureDataset', feature_file='data/msrvtt/features/stage1_train.pth',
# test_mode=True). Not part of the DiffusionRet paper protocol: report it separately.
_base_ = './diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'

query_bank = dict(
    dataloader=dict(
        batch_size=32,
        num_workers=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='MSRVTTRetrievalDataset',
            data_root='data/msrvtt',
            ann_file='annotations/MSRVTT_train.9k.csv',
            sentences_file='annotations/MSRVTT_data.json',
            data_prefix=dict(video='videos'),
            pipeline={{_base_.test_pipeline}},
            indices=5000)))
val_cfg = dict(
    post_processor=dict(type='QueryBankNorm', beta=20.0, k=1, mode='dis', query_bank=query_bank))
test_cfg = val_cfg
