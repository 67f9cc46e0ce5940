# Zero-shot text-video search with pretrained CLIP ViT-B/32 and no training: the CLIP4Clip
# mean-pooling baseline ("meanP"), S = cos(EOT text embedding, mean of the L2-normalised
# frame embeddings). Needs no checkpoint:
#   python tools/retrieve.py configs/zeroshot/clip4clip-meanp_vit-b-32_zeroshot.py \
#       --videos my_videos/ --query "a dog catches a frisbee"
# clip_weights: an open_clip pretrained tag (downloaded once into open_clip's cache) or a local
# file (--cfg-options model.encoder.pretrained=checkpoints/clip/ViT-B-32.pt when offline).
# The MSR-VTT 1k-A test split evaluates it with tools/test.py (zero-shot figures).
_base_ = [
    '../_base_/datasets/msrvtt_9k_1ka.py',
    '../_base_/default_runtime.py',
]
clip_weights = 'openai'

model = dict(
    type='XPool',
    encoder=dict(
        type='CLIPTextFrameEncoder', arch='ViT-B-32', pretrained=clip_weights, quick_gelu=True,
        temporal_layers=0),
    pooling=dict(type='MeanFramePooling'),
    data_preprocessor=dict(type='RetrievalDataPreprocessor'))
test_cfg = dict(type='RetrievalTestLoop', query_chunk_size=32, tie_rule='pessimistic')
