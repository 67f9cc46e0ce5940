# Zero-shot text-video search with pretrained CLIP ViT-B/32 and DiffusionRet's stage-1 token-wise
# similarity (WTI), untrained: uniform word and frame weights (the weight MLPs start at zero)
# and no temporal transformer, so S = mean over words of the best frame cosine and over frames
# of the best word cosine, on CLIP's own token and frame embeddings. Needs no checkpoint:
#   python tools/retrieve.py configs/zeroshot/diffusionret-wti_vit-b-32_zeroshot.py \
#       --videos my_videos/ --query "a dog catches a frisbee"
# clip_weights: an open_clip pretrained tag (downloaded once into open_clip's cache) or a local
# file (--cfg-options model.encoder.pretrained=checkpoints/clip/ViT-B-32.pt when offline).
_base_ = [
    '../_base_/models/diffusionret_vit-b-32.py',
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/default_runtime.py',
]
clip_weights = 'openai'

model = dict(
    encoder=dict(
        pretrained=clip_weights,
        # No temporal layers: the frames pass as 2 * f (the residual of an empty transformer),
        # the same direction as CLIP's frame embedding f once normalised; the frame position
        # embedding is zeroed by init_cfg (applied by the inferencer / Runner init).
        temporal_layers=0, init_temporal_from_text=False,
        init_cfg=dict(type='Constant', val=0, override=dict(name='frame_position_embeddings'))),
    # Zero weight logits: softmax over the valid words / frames gives uniform weights.
    similarity_head=dict(init_cfg=dict(type='Constant', val=0, bias=0, layer='Linear')))
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
