"""Search end to end, through the API and tools/retrieve.py, with every kind of model: randomly
initialised models built from the DiffusionRet stage-2, X-Pool and DITS demo configs (saved as
checkpoints), and the zero-shot configs with a local random-weight CLIP file and no checkpoint,
on a folder mixing generated videos, a truncated video and a file that is no video."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from tiny_search_config import tiny_config
from tool_loader import load_tool
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.models.encoders.clip_builder import build_clip
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

ROOT = Path(__file__).parents[2]
DEMO_CONFIGS = {
    'diffusionret-stage2': 'configs/diffusionret/diffusionret_stage2_tiny_1xb64-demo.py',
    'xpool': 'configs/dits/xpool_tiny_1xb64-demo.py',
    'dits': 'configs/dits/dits_tiny_1xb64-demo.py',
}
ZEROSHOT = {  # the zero-shot configs at test scale: a tiny CLIP and 32-px frames
    'zeroshot-meanp': ('configs/zeroshot/clip4clip-meanp_vit-b-32_zeroshot.py', ''),
    'zeroshot-wti': ('configs/zeroshot/diffusionret-wti_vit-b-32_zeroshot.py',
                     ',\n    similarity_head=dict(embed_dim=64, hidden_dim=128)'),
}
QUERIES = ['a red ball rolls to the left', 'a big blue square moves up']
retrieve = load_tool('retrieve.py')


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('mixed')
    load_tool('data', 'make_demo_dataset.py').make_demo_dataset(
        root / 'demo', seed=0, train_per_combination=1, captions_per_video=1, test_groups=1,
        size=32, fps=2, num_frames=8)
    videos = root / 'videos'
    videos.mkdir()
    sources = sorted((root / 'demo/videos').iterdir())[:5]
    for source in sources:
        shutil.copy(source, videos / source.name)
    data = sources[0].read_bytes()
    (videos / 'truncated.mp4').write_bytes(data[:len(data) // 2])
    (videos / 'notes.avi').write_text('this is a text file, not a video\n')
    return videos


def model_files(name, tmp_path):
    """(config, checkpoint or None, extra CLI args) of one kind of model."""
    register_all_modules()
    torch.manual_seed(0)
    if name in DEMO_CONFIGS:
        config = str(ROOT / DEMO_CONFIGS[name])
        checkpoint = tmp_path / f'{name}.pth'
        torch.save({'state_dict': MODELS.build(Config.fromfile(config).model).state_dict()},
                   checkpoint)
        return config, str(checkpoint), []
    base, head = ZEROSHOT[name]
    config = tmp_path / f'{name}.py'
    config.write_text(tiny_config(ROOT / base, f"dict(encoder=dict(arch='tiny-64'){head})"))
    clip_file = tmp_path / 'random_clip.pth'
    torch.save(build_clip('tiny-64').state_dict(), clip_file)
    return str(config), None, ['--cfg-options', f'model.encoder.pretrained={clip_file}']


@pytest.mark.parametrize('name', [*DEMO_CONFIGS, *ZEROSHOT])
def test_search_with_every_model(name, folder, tmp_path, capsys):
    config, checkpoint, extra = model_files(name, tmp_path)
    cache, out = tmp_path / 'gallery.pth', tmp_path / 'results.json'
    argv = [config] + ([checkpoint] if checkpoint else []) + [
        '--videos', str(folder), '--query', QUERIES[0], '--query', QUERIES[1], '--topk', '3',
        '--cache', str(cache), '--out', str(out), '--device', 'cpu'] + extra
    with pytest.warns(UserWarning, match='2 of 7 videos could not be decoded'):
        cli = retrieve.main(argv)
    printed = capsys.readouterr().out
    assert 'gallery: 5 videos (7 encoded, 0 from the cache, 2 unreadable)' in printed
    saved = json.loads(out.read_text())
    assert sorted(Path(p).name for p in saved['failed_videos']) == ['notes.avi',
                                                                    'truncated.mp4']
    assert [[hit['rank'] for hit in hits] for hits in cli] == [[1, 2, 3]] * 2
    assert all(torch.isfinite(torch.tensor([h['score'] for h in hits])).all() for hits in cli)

    cfg = Config.fromfile(config)
    if extra:
        cfg.merge_from_dict({'model.encoder.pretrained': extra[1].split('=', 1)[1]})
    with pytest.warns(UserWarning, match='could not be decoded'):
        inferencer = TextVideoRetrievalInferencer(cfg, weights=checkpoint, prototype=str(folder),
                                                  prototype_cache=str(cache), device='cpu',
                                                  show_progress=False)
    assert inferencer.num_encoded == 0 and inferencer.num_reused == 7  # the CLI's gallery
    assert inferencer(QUERIES, topk=3) == cli
    texts = inferencer.video_to_text(cli[0][0]['video'], QUERIES + ['a wedge'], topk=3)
    assert sorted(t['text'] for t in texts) == sorted(QUERIES + ['a wedge'])
