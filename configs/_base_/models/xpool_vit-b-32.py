# X-Pool (Gorti et al., CVPR 2022) on CLIP ViT-B/32, the DITS baseline.
clip_weights = 'checkpoints/clip/ViT-B-32.pt'  # local OpenAI ViT-B-32.pt
embed_dim = 512

model = dict(
    type='XPool',
    encoder=dict(
        type='CLIPTextFrameEncoder', arch='ViT-B-32', pretrained=clip_weights, quick_gelu=True,
        # X-Pool fine-tunes all of CLIP (incl. the patch embedding); no temporal transformer.
        freeze_patch_embed=False, temporal_layers=0),
    # transformer_dropout: 0.3 (T-MASS uses 0.4 on DiDeMo).
    pooling=dict(type='XPoolFramePooling', embed_dim=embed_dim, num_heads=1, dropout=0.3),
    contrastive_loss=dict(type='SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))
