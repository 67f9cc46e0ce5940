"""tools/retrieve.py end to end on a tiny generated video folder and a random tiny model: the
ranked table, results.json, one contact sheet per query, the HTML page, the cache; arguments and
folders checked before any model is built, with errors naming the flag; --help."""
import json
import re

import pytest
import torch
from mmengine.config import Config
from PIL import Image

from tiny_search_config import tiny_config
from tool_loader import load_tool
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules

retrieve = load_tool('retrieve.py')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp('retrieve')
    load_tool('data', 'make_demo_dataset.py').make_demo_dataset(
        root / 'demo', seed=0, train_per_combination=1, captions_per_video=1,
        test_groups=1, size=32, fps=2, num_frames=8)
    videos = root / 'videos'
    videos.mkdir()
    for source in sorted((root / 'demo/videos').iterdir())[:6]:
        (videos / source.name).write_bytes(source.read_bytes())
    config = root / 'tiny.py'
    config.write_text(tiny_config())
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return dict(root=root, videos=videos, config=str(config), checkpoint=str(checkpoint))


def test_retrieve_cli(tiny, tmp_path, capsys):
    out, sheets, page = tmp_path / 'out/results.json', tmp_path / 'sheets', tmp_path / 'p.html'
    cache = tmp_path / 'g.pth'
    queries = ['a red ball rolls to the left', 'a blue box moves up']
    base = [tiny['config'], tiny['checkpoint'], '--videos', str(tiny['videos']),
            '--query', queries[0], '--query', queries[1], '--topk', '3', '--cache', str(cache),
            '--device', 'cpu']
    results = retrieve.main(base + ['--out', str(out), '--show', str(sheets), '--html',
                                    str(page), '--show-frames', '2'])
    printed = capsys.readouterr().out
    assert f'query: {queries[0]}' in printed and 'rank' in printed
    assert '(6 encoded, 0 from the cache, 0 unreadable)' in printed
    assert len(results) == 2 and all(len(hits) == 3 for hits in results)

    saved = json.loads(out.read_text())
    assert [r['query'] for r in saved['results']] == queries
    hits = saved['results'][0]['hits']
    assert [h['rank'] for h in hits] == [1, 2, 3]
    assert hits[0]['score'] >= hits[1]['score'] >= hits[2]['score']
    pngs = sorted(sheets.iterdir())
    assert len(pngs) == 2  # one contact sheet per query
    for png in pngs:
        with Image.open(png) as image:
            assert image.format == 'PNG' and min(image.size) >= 200
    text = page.read_text()
    assert all(query in text for query in queries) and cache.is_file()

    retrieve.main(base)  # second run: the cache
    assert '(0 encoded, 6 from the cache' in capsys.readouterr().out

    # An embedding shortlist covering the whole gallery gives the exhaustive hits.
    shortlisted = retrieve.main(base + ['--shortlist', '6', '--coarse-score', 'embedding',
                                        '--coarse-backend', 'torch'])
    assert [[h['video'] for h in hits] for hits in shortlisted] == \
        [[h['video'] for h in hits] for hits in results]


def test_arguments_checked_before_any_model_is_built(tiny, tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError('a model was built before the arguments were checked')

    monkeypatch.setattr(retrieve, 'TextVideoRetrievalInferencer', no_model)
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'file.mp4').write_bytes(b'x')
    (tmp_path / 'texts').mkdir()
    (tmp_path / 'texts/notes.txt').write_text('no videos here')
    videos = str(tiny['videos'])
    cases = [
        (['--videos', str(tmp_path / 'missing')], "--videos '.*missing' does not exist"),
        (['--videos', str(tmp_path / 'file.mp4')], '--videos .* is not a folder'),
        (['--videos', str(tmp_path / 'empty')], '--videos .* holds no video files'),
        (['--videos', str(tmp_path / 'texts')], '--videos .* holds no video files'),
        (['--videos', videos, '--topk', '0'], '--topk: .*positive integer'),
        (['--videos', videos, '--batch-size', '-2'], '--batch-size: .*positive integer'),
        (['--videos', videos, '--query', ' '], '--query must be a non-empty sentence'),
        (['--videos', videos, '--device', 'cuda:0'] if not torch.cuda.is_available() else
         ['--videos', videos, '--device', 'nonsense'], '--device'),
        (['--videos', videos, '--cfg-options', 'model.x'], '--cfg-options .*KEY=VALUE'),
    ]
    for extra, message in cases:
        argv = [tiny['config'], tiny['checkpoint'], '--query', 'a ball'] + extra
        with pytest.raises(SystemExit) as exit_info:
            retrieve.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert re.search(message, err), (message, err)
    with pytest.raises(SystemExit):
        retrieve.main([tiny['config'], str(tmp_path / 'none.pth'), '--videos', videos,
                       '--query', 'a ball'])
    assert 'checkpoint' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        retrieve.main(['no_such_config', '--videos', videos, '--query', 'a ball'])
    assert "config: model 'no_such_config'" in capsys.readouterr().err


def test_help_documents_the_options(capsys):
    with pytest.raises(SystemExit):
        retrieve.main(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    for flag in ('--topk', '--device', '--batch-size', '--cache', '--show', '--html',
                 '--cfg-options', '--shortlist'):
        assert flag in text
    assert 'cuda when available' in text and 'contact sheet' in text
