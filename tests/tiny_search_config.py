"""Test-scale configs for video search: a 32-px, 4-frame test pipeline and a tiny random
DiffusionRet derived from the demo config (shared by the inferencer and retrieve.py tests)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_STAGE1 = ROOT / 'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py'
TINY_PIPELINE = """test_pipeline = [
    dict(type='LoadVideoFrames', max_frames=4, sample_fps=1),
    dict(type='Resize', scale=(-1, 32), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='TokenizeCaptions', max_words=16),
    dict(type='PackRetrievalInputs', max_frames=4),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""


def tiny_config(base=DEMO_STAGE1, model="""dict(
    encoder=dict(arch='tiny-64', temporal_layers=1, temporal_heads=2, motion_stem_offset=None),
    similarity_head=dict(embed_dim=64, hidden_dim=128))"""):
    """The text of a config inheriting ``base`` with ``model`` merged and the tiny pipeline."""
    return f'_base_ = [{str(base)!r}]\nmodel = {model}\n{TINY_PIPELINE}'
