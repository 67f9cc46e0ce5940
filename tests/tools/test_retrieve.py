"""tools/retrieve.py end to end: a tiny generated video folder and a random tiny model; the CLI
prints a ranked table, writes results.json and a contact sheet, and reuses its cache."""
import json
from pathlib import Path

import torch
from mmengine.config import Config
from PIL import Image

from tool_loader import load_tool
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

ROOT = Path(__file__).parents[2]
BASE_CONFIG = ROOT / 'configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py'
TINY_CONFIG = f"""_base_ = [{str(BASE_CONFIG)!r}]
model = dict(
    encoder=dict(arch='tiny-64', temporal_layers=1, temporal_heads=2),
    similarity_head=dict(embed_dim=64, hidden_dim=128))
test_pipeline = [
    dict(type='LoadVideoFrames', max_frames=4, sample_fps=1),
    dict(type='Resize', scale=(-1, 32), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='TokenizeCaptions', max_words=16),
    dict(type='PackRetrievalInputs', max_frames=4),
]
"""


def test_retrieve_cli(tmp_path, capsys):
    load_tool('data', 'make_demo_dataset.py').make_demo_dataset(
        tmp_path / 'demo', seed=0, train_per_combination=1, captions_per_video=1,
        test_groups=1, size=32, fps=2, num_frames=8)
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_CONFIG)
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)

    retrieve = load_tool('retrieve.py')
    out, sheet, cache = tmp_path / 'out/results.json', tmp_path / 'contact.png', tmp_path / 'g.pth'
    argv = [str(config), str(checkpoint), '--videos', str(tmp_path / 'demo/videos'),
            '--query', 'a red ball rolls to the left', '--query', 'a blue box moves up',
            '--topk', '3', '--cache', str(cache), '--out', str(out), '--show', str(sheet),
            '--show-frames', '3']
    results = retrieve.main(argv)
    printed = capsys.readouterr().out
    assert 'query: a red ball rolls to the left' in printed and 'rank' in printed
    assert len(results) == 2 and all(len(hits) == 3 for hits in results)

    saved = json.loads(out.read_text())
    assert [r['query'] for r in saved['results']] == ['a red ball rolls to the left',
                                                     'a blue box moves up']
    hits = saved['results'][0]['hits']
    assert [h['rank'] for h in hits] == [1, 2, 3]
    assert hits[0]['score'] >= hits[1]['score'] >= hits[2]['score']
    with Image.open(sheet) as image:
        assert image.format == 'PNG' and min(image.size) >= 200
    assert cache.is_file()

    retrieve.main(argv[:-2] + ['--show-frames', '3'])  # second run: the cache, no --show
    assert '(0 encoded' in capsys.readouterr().out

    # A pooled-embedding shortlist covering the whole gallery gives the exhaustive hits.
    num_videos = len(list((tmp_path / 'demo/videos').iterdir()))
    shortlisted = retrieve.main(argv[:8] + ['--topk', '3', '--cache', str(cache), '--shortlist',
                                            str(num_videos), '--coarse-score', 'embedding',
                                            '--coarse-backend', 'torch'])
    assert [[h['video'] for h in hits] for hits in shortlisted] == \
        [[h['video'] for h in hits] for hits in results]
