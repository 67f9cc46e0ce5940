# X-Pool baseline with the DITS recipe (MSR-VTT 9k / 1k-A, ViT-B/32, 1 GPU x 32, 5 epochs).
_base_ = ['./dits_vit-b-32_1xb32-5e_msrvtt-9k.py']

model = dict(
    _delete_=True,
    type='XPool',
    encoder=dict(
        type='CLIPTextFrameEncoder', arch='ViT-B-32', pretrained={{_base_.clip_weights}},
        quick_gelu=True, freeze_patch_embed=False, temporal_layers=0),
    pooling=dict(type='XPoolFramePooling', embed_dim=512, num_heads=1, dropout=0.3),
    contrastive_loss=dict(type='SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))
