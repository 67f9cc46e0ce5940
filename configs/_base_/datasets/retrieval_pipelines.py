# The official loaders' input pipelines as variables (decord at 1 fps, bicubic resize and centre
# crop to 224 px, no augmentation): clip retrieval reads 32 words and 12 frames, paragraph
# retrieval (ActivityNet, DiDeMo) 64 and 64. The dataset bases and the out-of-domain configs
# take them from here.
sample_fps = 1
image_size = 224
clip_words = 32
clip_frames = 12
paragraph_words = 64
paragraph_frames = 64

clip_pipeline = [
    dict(type='LoadVideoFrames', max_frames=clip_frames, sample_fps=sample_fps),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=clip_words),
    dict(type='PackRetrievalInputs', max_frames=clip_frames),
]
paragraph_pipeline = [
    dict(type='LoadVideoFrames', max_frames=paragraph_frames, sample_fps=sample_fps),
    dict(type='Resize', scale=(-1, image_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='TokenizeCaptions', max_words=paragraph_words),
    dict(type='PackRetrievalInputs', max_frames=paragraph_frames),
]
