# DiffusionRet stage-1 feature extractor on CLIP ViT-B/32 (official defaults).
clip_weights = None  # path to a local OpenAI ViT-B-32.pt (TorchScript) or state dict
model = dict(
    type='DiffusionRet',
    encoder=dict(
        type='CLIPTextFrameEncoder',
        arch='ViT-B-32',
        pretrained=clip_weights,
        quick_gelu=True,
        freeze_patch_embed=True,
        temporal_layers=4,
        temporal_heads=8,
        temporal_ln_eps=1e-12,
        init_temporal_from_text=True),
    similarity_head=dict(
        type='WTISimilarityHead', embed_dim=512, hidden_dim=1024,
        exclude_masked_from_max=False),
    contrastive_loss=dict(type='SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))
