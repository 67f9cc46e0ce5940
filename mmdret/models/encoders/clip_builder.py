"""CLIP construction and weight resolution, kept apart (open_clip style).

Architectures are data: an open_clip model name (``'ViT-B-32'``, ``'ViT-B-16'``, any name
``open_clip.list_models()`` knows) or a dict in open_clip's model-config layout
(``embed_dim``, ``vision_cfg``, ``text_cfg``). Weights are an open_clip pretrained tag
(:func:`resolve_clip_weights`, downloaded into open_clip's cache) or a local file: an OpenAI
TorchScript archive (``ViT-B-32.pt`` as OpenAI ships it), an OpenAI-format state dict, an
open_clip / mmdret checkpoint (``state_dict`` key, optional ``module.`` prefix), or a
safetensors file (``open_clip_model.safetensors`` as open_clip's hub repositories ship it, told
by its header whatever its name).
"""
import copy
import os
import os.path as osp
import zipfile

import open_clip
import torch
from open_clip.model import CLIP
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file

from mmdret.utils.safe_load import naming_refused_file, read_torchscript_state_dict

# Keys a TorchScript archive carries beside the weights.
_JIT_ONLY_KEYS = ('input_resolution', 'context_length', 'vocab_size')
# Where CLIP sits in an mmdret model's state dict.
MMDRET_CLIP_PREFIX = 'encoder.clip.'


TINY_ARCHS = {
    # Demo/test scale: builds in ~0.1 s; text width == embed_dim so the temporal transformer can be
    # initialised from the text layers as in the paper recipe.
    'tiny-64': dict(
        embed_dim=64,
        vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=16, head_width=32),
        text_cfg=dict(context_length=32, vocab_size=49408, width=64, heads=2, layers=2)),
    # The demo model: one 32-px patch per frame quadrant learns shape and (with the motion
    # stem) direction of the demo objects in ~150 steps, where 16-px patches need far longer.
    'tiny-128': dict(
        embed_dim=128,
        vision_cfg=dict(image_size=64, layers=2, width=128, patch_size=32, head_width=64),
        text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=2, layers=2)),
}


def clip_arch_config(arch):
    """Resolve ``arch`` (open_clip name, mmdret tiny name, or config dict) to a config dict.

    Args:
        arch (str | dict): an open_clip model name (``'ViT-B-32'``), an mmdret tiny
            architecture (``'tiny-64'``, ``'tiny-128'``) or a config dict in open_clip's layout
            (``embed_dim``, ``vision_cfg``, ``text_cfg``).

    Returns:
        dict: a deep copy of the architecture's config.

    Raises:
        KeyError: if ``arch`` is an unknown name.
    """
    if isinstance(arch, dict):
        return copy.deepcopy(arch)
    if arch in TINY_ARCHS:
        return copy.deepcopy(TINY_ARCHS[arch])
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise KeyError(f'Unknown CLIP architecture {arch!r}: expected one of '
                       f'{sorted(TINY_ARCHS)} or an open_clip model name such as '
                       f"'ViT-B-32', or a dict with embed_dim/vision_cfg/text_cfg.")
    return copy.deepcopy(cfg)


def build_clip(arch, quick_gelu=True):
    """Build a randomly initialised open_clip :class:`CLIP` for ``arch``.

    ``quick_gelu=True`` matches OpenAI's weights; loading them into a GELU model runs silently
    with the wrong activation, so the default follows the weights the paper uses.

    Args:
        arch (str | dict): the architecture, as taken by :func:`clip_arch_config`.
        quick_gelu (bool): use QuickGELU; False keeps the architecture config's own
            ``quick_gelu`` (GELU unless it sets one). Defaults to True.

    Returns:
        CLIP: the model, with random weights.
    """
    cfg = clip_arch_config(arch)
    cfg.pop('custom_text', None)
    cfg['quick_gelu'] = quick_gelu or cfg.get('quick_gelu', False)
    return CLIP(**cfg)


def _is_torchscript_archive(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith('constants.pkl') for name in archive.namelist())


# A safetensors file opens with its JSON header's length (8 bytes, little-endian), which the
# format caps at 100 MB, then the header itself, a JSON object.
_SAFETENSORS_MAX_HEADER = 100_000_000


def _is_safetensors(path):
    """Whether ``path`` is a safetensors file by its content, or claims to be by its name."""
    if str(path).endswith('.safetensors'):
        return True
    with open(path, 'rb') as file:
        head = file.read(9)
    return (len(head) == 9 and head[8:9] == b'{'
            and 0 < int.from_bytes(head[:8], 'little') <= _SAFETENSORS_MAX_HEADER)


def _read_safetensors(path):
    """The tensors of a safetensors file (plain data: nothing in the format can run code)."""
    try:
        return load_safetensors_file(path, device='cpu')
    except SafetensorError as error:
        raise ValueError(
            f'{path}: not a readable safetensors file ({error}); expected an 8-byte header '
            'length, a JSON header and every tensor the header lists. A truncated download '
            'reads this way: fetch the file again') from error


def read_clip_state_dict(path):
    """Read CLIP weights from a local file into an fp32 OpenAI-key state dict.

    The file is a safetensors file, an OpenAI TorchScript archive (weights read from its records,
    its code never run), an OpenAI-format state dict or an open_clip / mmdret checkpoint
    (``state_dict`` key, ``module.`` and ``encoder.clip.`` prefixes removed).

    Args:
        path (str): the weight file.

    Returns:
        dict[str, Tensor]: the CLIP state dict, floating-point tensors as float32.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        TypeError: if the file does not hold a state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP weight file not found: {path!r} (expected a local OpenAI '
                                '.pt archive, OpenAI state dict, open_clip checkpoint or '
                                '.safetensors file)')
    if _is_safetensors(path):
        state_dict = _read_safetensors(path)
    elif _is_torchscript_archive(path):  # weights read from the records, the code never run
        state_dict = read_torchscript_state_dict(path)
    else:
        with naming_refused_file(path):
            state_dict = torch.load(path, map_location='cpu', weights_only=True)
        if isinstance(state_dict, dict) and 'state_dict' in state_dict:
            state_dict = state_dict['state_dict']
    if not isinstance(state_dict, dict):
        raise TypeError(f'{path}: expected a state dict, got {type(state_dict).__name__}')
    state_dict = {k.removeprefix('module.'): v for k, v in state_dict.items()
                  if k not in _JIT_ONLY_KEYS}
    if any(k.startswith(MMDRET_CLIP_PREFIX) for k in state_dict):
        state_dict = {k[len(MMDRET_CLIP_PREFIX):]: v for k, v in state_dict.items()
                      if k.startswith(MMDRET_CLIP_PREFIX)}
    return {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}


def load_clip_weights(clip, path):
    """Load a local CLIP weight file strictly into ``clip``; name any mismatch.

    Args:
        clip (CLIP): the model to fill, e.g. from :func:`build_clip`.
        path (str): the weight file, as read by :func:`read_clip_state_dict`.

    Returns:
        CLIP: ``clip``, with the weights loaded.

    Raises:
        KeyError: if the weights miss keys of ``clip`` or have unexpected ones.
    """
    state_dict = read_clip_state_dict(path)
    result = clip.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f'{path}: CLIP weights do not match the architecture: missing '
                       f'{result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}')
    return clip


def resolve_clip_weights(arch, pretrained, quick_gelu=True):
    """The local weight file of ``pretrained``: a local file as it is, or an open_clip
    pretrained tag of ``arch`` (``'openai'``, ``'laion2b_s34b_b79k'``, ...,
    ``open_clip.list_pretrained_tags_by_model(arch)``) downloaded once into open_clip's cache.

    With ``HF_HUB_OFFLINE=1`` a tag fails at once (nothing is contacted): point ``pretrained``
    at a local file instead.

    Args:
        arch (str | dict): the CLIP architecture (a tag needs an open_clip model name).
        pretrained (str): a local file path or a pretrained tag.
        quick_gelu (bool): the activation the model is built with; a tag whose weights were
            trained with the other activation is refused.
    """
    if osp.isfile(pretrained):
        return pretrained
    name = arch if isinstance(arch, str) else None
    tags = open_clip.list_pretrained_tags_by_model(name) if name else []
    if not open_clip.pretrained.is_pretrained_cfg(name or '', pretrained):
        raise FileNotFoundError(
            f'CLIP weights {pretrained!r} are neither a local file nor an open_clip pretrained '
            f'tag of {arch!r} (tags: {", ".join(tags) or "none"}); expected a local OpenAI .pt '
            'archive, OpenAI state dict, open_clip checkpoint or .safetensors file, or one of '
            'the tags')
    cfg = open_clip.pretrained.get_pretrained_cfg(name, pretrained)
    if bool(cfg.get('quick_gelu', False)) != bool(quick_gelu):
        raise ValueError(f'the {name} {pretrained!r} weights were trained with '
                         f'{"QuickGELU" if cfg.get("quick_gelu") else "GELU"}: set the '
                         f'encoder\'s quick_gelu={bool(cfg.get("quick_gelu", False))}')
    if os.environ.get('HF_HUB_OFFLINE', '0').lower() not in ('', '0', 'false', 'no'):
        raise RuntimeError(
            f'CLIP weights {pretrained!r} are an open_clip pretrained tag of {name}, which needs '
            'a download, but HF_HUB_OFFLINE is set: point the encoder\'s pretrained (the '
            'configs\' clip_weights, e.g. --cfg-options model.encoder.pretrained=PATH) at a '
            'local file, e.g. an OpenAI ViT-B-32.pt or an open_clip checkpoint')
    path = open_clip.pretrained.download_pretrained(cfg)
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'open_clip could not download the {name} {pretrained!r} weights')
    return path
