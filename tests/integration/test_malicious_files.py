"""No file a user hands to mmdret runs code: a pickle whose ``__reduce__`` writes a marker file
is fed to every entry point that reads a file; the marker never appears and each refusal names
the file.

Three carriers of the payload: a plain pickle, a ``torch.save`` zip whose ``data.pkl`` holds it,
and the same zip dressed as a TorchScript archive (``constants.pkl`` present).
"""
import builtins
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from tool_loader import load_tool

from .integration_utils import write_config


class Payload:
    """Unpickling this runs ``open(marker, 'w')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f'open({self.marker!r}, "w").write("ran")',)


@pytest.fixture
def evil(tmp_path):
    """The malicious files and their marker; the test fails if the marker appears."""
    marker = tmp_path / 'MARKER'
    files = dict(marker=marker)
    files['pickle'] = tmp_path / 'evil.pkl'
    files['pickle'].write_bytes(pickle.dumps({'x': Payload(marker)}))
    files['zip'] = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': Payload(marker)}, files['zip'])
    files['jit'] = tmp_path / 'evil_jit.pt'
    files['jit'].write_bytes(files['zip'].read_bytes())
    with zipfile.ZipFile(files['jit'], 'a') as archive:
        archive.writestr('evil/constants.pkl', pickle.dumps(()))
    # The payload is live: plain unpickling runs it.
    pickle.loads(files['pickle'].read_bytes())
    assert marker.read_text() == 'ran'
    marker.unlink()
    yield files
    assert not marker.exists(), 'a malicious file ran its payload'


def refused(path, call, *args, **kwargs):
    """``call`` must raise, naming ``path``; the message is returned."""
    with pytest.raises(Exception) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    return message


@pytest.fixture(scope='module')
def tiny_config(demo_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('malicious')
    return write_config(tmp / 'tiny_malicious.py', demo_data['out_dir'], tmp / 'work',
                        train_items=8, extra='test_pipeline = pipeline\n')  # retrieve.py's


def test_test_tool_checkpoint(tools, tiny_config, evil, tmp_path):
    for carrier in ('zip', 'pickle'):
        refused(evil[carrier], tools.test.main,
                [str(tiny_config), str(evil[carrier]), '--work-dir', str(tmp_path / 'w')])


def test_train_tool_load_from(tools, tiny_config, evil, tmp_path):
    refused(evil['zip'], tools.train.main,
            [str(tiny_config), '--work-dir', str(tmp_path / 'w'), '--no-validate',
             '--cfg-options', f'load_from={evil["zip"]}'])


def test_train_tool_resume(tools, tiny_config, evil, tmp_path):
    refused(evil['zip'], tools.train.main,
            [str(tiny_config), '--work-dir', str(tmp_path / 'w'), '--no-validate',
             '--resume', str(evil['zip'])])


def test_converter(evil, tmp_path):
    convert = load_tool('convert', 'diffusionret_official_to_mmdret.py')
    refused(evil['zip'], convert.main, [str(evil['zip']), str(tmp_path / 'out.pth')])


def test_feature_cache(evil):
    from mmdret.datasets.cached_feature_dataset import load_feature_cache
    refused(evil['zip'], load_feature_cache, str(evil['zip']))


def test_extract_features_checkpoint(tiny_config, evil, tmp_path):
    extract = load_tool('extract_features.py')
    refused(evil['zip'], extract.main,
            [str(tiny_config), str(evil['zip']), '--out', str(tmp_path / 'f.pth'),
             '--split', 'test'])


def test_clip_weights(evil):
    from mmdret.models.encoders.clip_builder import read_clip_state_dict
    for carrier in ('zip', 'jit', 'pickle'):
        refused(evil[carrier], read_clip_state_dict, str(evil[carrier]))


def test_msvd_captions(evil, tmp_path):
    from mmdret.datasets import MSVDRetrievalDataset
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'videos' / 'v0.avi').touch()
    (tmp_path / 'train_list.txt').write_text('v0\n')
    refused(evil['pickle'], MSVDRetrievalDataset, ann_file='train_list.txt',
            captions_file=str(evil['pickle']), data_root=str(tmp_path),
            data_prefix=dict(video='videos'), pipeline=[])


def retrieve_argv(config, checkpoint, videos, cache):
    return [str(config), str(checkpoint), '--videos', str(videos), '--query', 'a red ball',
            '--cache', str(cache)]


def test_inferencer_weights(tiny_config, demo_data, evil, tmp_path):
    retrieve = load_tool('retrieve.py')
    refused(evil['zip'], retrieve.main,
            retrieve_argv(tiny_config, evil['zip'], Path(demo_data['out_dir']) / 'videos',
                          tmp_path / 'gallery.pth'))


def test_gallery_cache(tiny_config, demo_data, evil, tmp_path):
    from mmengine.config import Config

    from mmdret.registry import MODELS
    from mmdret.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(str(tiny_config)).model)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    videos = tmp_path / 'videos'
    videos.mkdir()
    first = sorted((Path(demo_data['out_dir']) / 'videos').iterdir())[0]
    (videos / first.name).write_bytes(first.read_bytes())
    retrieve = load_tool('retrieve.py')
    try:  # refusing, or ignoring the file and rebuilding, are both safe
        retrieve.main(retrieve_argv(tiny_config, checkpoint, videos, evil['zip']))
        message = None
    except Exception as error:  # noqa: BLE001  (any refusal must name the file)
        message = str(error)
    ran = evil['marker'].exists()
    evil['marker'].unlink(missing_ok=True)  # (reported here, not by the fixture)
    assert not ran, f'{evil["zip"]} ran its payload as a gallery cache'
    assert message is None or str(evil['zip']) in message, message
