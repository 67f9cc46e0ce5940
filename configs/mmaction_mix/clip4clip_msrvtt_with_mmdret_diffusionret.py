# mmaction2's CLIP4Clip MSR-VTT recipe with the model, data and evaluation of mmdret's
# DiffusionRet (stage 1) swapped in: an example of using mmdret from an mmaction2 config.
#
# Why: mmaction2 1.2.0's own retrieval classes (`CLIPSimilarity`, `CLIPTokenize`) import
# OpenAI's `clip` package, which exists only on GitHub (`pip install
# git+https://github.com/openai/CLIP.git`; the PyPI package named `clip` is unrelated), so
# the base config cannot build in an ordinary install. mmdret's encoder builds CLIP on
# open_clip (same weights and tokenizer ids), its dataset reads the official
# CLIP4Clip/DiffusionRet MSR-VTT files, and its loop/metric score both directions with
# multi-caption-correct ground truth.
#
# Kept from mmaction2: `default_scope='mmaction'`, the runtime (hooks, logger, visualizer,
# env), the AdamW optimizer and its param_scheduler, the epoch-based train loop and the
# unprefixed mmaction transforms (`Resize`, `CenterCrop`). mmdret components are named with
# the `mmdret.` scope prefix; `custom_imports` imports mmdret, which fills its registries and
# applies its upstream fixes (see mmdret/compat.py).
#
# Weights: put a local OpenAI `ViT-B-32.pt` (or an OpenAI-format state dict) at
# `clip_weights`; None trains CLIP from a random initialisation.
_base_ = 'mmaction::retrieval/clip4clip/clip4clip_vit-base-p32-res224-clip-pre_8xb16-u12-5e_msrvtt-9k-rgb.py'  # noqa: E501

custom_imports = dict(imports=['mmdret'], allow_failed_imports=False)
# mmaction2's tools/train.py builds this runner too: it loads load_from / resume checkpoints
# weights-only with the exact mmengine allow-list.
runner_type = 'mmdret.SafeLoadRunner'

clip_weights = None  # e.g. 'checkpoints/ViT-B-32.pt'
model = dict(
    _delete_=True,
    type='mmdret.DiffusionRet',
    encoder=dict(
        type='mmdret.CLIPTextFrameEncoder',
        arch='ViT-B-32',
        pretrained=clip_weights,
        quick_gelu=True,
        freeze_patch_embed=True,
        temporal_layers=4,
        temporal_heads=8),
    similarity_head=dict(type='mmdret.WTISimilarityHead', embed_dim=512, hidden_dim=1024),
    contrastive_loss=dict(type='mmdret.SymmetricInfoNCELoss'),
    data_preprocessor=dict(type='mmdret.RetrievalDataPreprocessor'))

# MSR-VTT in the official CLIP4Clip/DiffusionRet file formats (9k train, 1k-A JSFusion test).
dataset_type = 'mmdret.MSRVTTRetrievalDataset'
data_root = 'data/msrvtt'
max_frames = 12
max_words = 32
image_size = 224
pipeline = [
    dict(type='mmdret.LoadVideoFrames', max_frames=max_frames, sample_fps=1),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='mmdret.TokenizeCaptions', max_words=max_words),
    dict(type='mmdret.PackRetrievalInputs', max_frames=max_frames),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/MSRVTT_train.9k.csv',
        sentences_file='annotations/MSRVTT_data.json',
        data_prefix=dict(video='videos'),
        pipeline=pipeline))
test_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='annotations/MSRVTT_JSFUSION_test.csv',
    data_prefix=dict(video='videos'),
    pipeline=pipeline,
    test_mode=True)
val_dataloader = dict(dataset=dict(_delete_=True, **test_dataset))
# mmdret's loop extracts features batch by batch and scores queries in chunks: no need for
# mmaction's test batch size of 1.
test_dataloader = dict(batch_size=16, dataset=dict(_delete_=True, **test_dataset))

val_cfg = dict(type='mmdret.RetrievalValLoop', query_chunk_size=32)
test_cfg = dict(type='mmdret.RetrievalTestLoop', query_chunk_size=32)
val_evaluator = dict(type='mmdret.TextVideoRetrievalMetric')
test_evaluator = val_evaluator
