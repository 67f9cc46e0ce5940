"""Stage-1 feature caches (``tools/extract_features.py``): format constants and fingerprints.

Stage 2 freezes the encoder, so its outputs can be computed once and cached. A cache is valid only
for the encoder that produced it; the *fingerprint* identifies that encoder:

* ``encoder_config_sha1``: SHA-1 of the ``model.encoder`` config section as canonical JSON (sorted
  keys, no whitespace, registry scope stripped from ``type``). Keys that only say how weights are
  initialised (``pretrained``, ``init_cfg``) are left out: they are local paths that differ between
  machines, and the weights themselves are hashed below.
* ``encoder_state_sha1``: SHA-1 over the encoder's ``state_dict`` in sorted key order, each entry
  contributing its name, dtype, shape and raw bytes.
* ``fingerprint``: SHA-1 of ``'<config sha1>:<state sha1>'``, the value compared at start.
"""
import hashlib
import json

import torch

CACHE_FORMAT = 'mmdret-feature-cache'
CACHE_FORMAT_VERSION = 1
# Keys of a cached-feature batch, as ``RetrievalDataPreprocessor`` hands them to the model. The
# masks keep the names of the decode path, so every consumer of ``text_mask``/``video_mask`` works
# unchanged.
CACHED_INPUT_KEYS = ('text_tokens', 'text_mask', 'text_eot', 'video_frames', 'video_mask')
INIT_ONLY_KEYS = ('pretrained', 'init_cfg')


def plain_config(value):
    """A config (ConfigDict, nested lists) as plain dicts/lists, for canonical JSON.

    Args:
        value (Any): a config value: an object with ``to_dict`` (ConfigDict), a dict, a list or
            tuple (each converted recursively), or a leaf returned as is.

    Returns:
        Any: the value with dicts (string keys) and lists in place of configs and tuples.
    """
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    return value


def canonical_encoder_config(encoder_cfg):
    """Canonical JSON of a ``model.encoder`` config (dict or ConfigDict).

    Keys that only say how weights are initialised (``pretrained``, ``init_cfg``) are left out
    and the registry scope is stripped from ``type``.

    Args:
        encoder_cfg (dict | ConfigDict): the ``model.encoder`` section of a config.

    Returns:
        str: JSON with sorted keys and no whitespace.
    """
    cfg = {k: v for k, v in plain_config(encoder_cfg).items() if k not in INIT_ONLY_KEYS}
    if isinstance(cfg.get('type'), str):
        cfg['type'] = cfg['type'].rsplit('.', 1)[-1]
    return json.dumps(cfg, sort_keys=True, separators=(',', ':'), default=repr)


def state_dict_sha1(module):
    """SHA-1 over a module's state dict (names, dtypes, shapes and bytes, sorted by name).

    Args:
        module (nn.Module): the module to hash.

    Returns:
        str: the hex digest.
    """
    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoder_fingerprint(encoder_cfg, encoder):
    """Fingerprint of a stage-1 encoder: its config section and its weights.

    Args:
        encoder_cfg (dict): the ``model.encoder`` section of the config.
        encoder (nn.Module): the built encoder with its (loaded) weights.

    Returns:
        dict: ``fingerprint``, ``encoder_config_sha1``, ``encoder_state_sha1`` and
        ``encoder_config`` (the canonical JSON that was hashed).
    """
    config_json = canonical_encoder_config(encoder_cfg)
    config_sha1 = hashlib.sha1(config_json.encode()).hexdigest()
    state_sha1 = state_dict_sha1(encoder)
    fingerprint = hashlib.sha1(f'{config_sha1}:{state_sha1}'.encode()).hexdigest()
    return dict(fingerprint=fingerprint, encoder_config_sha1=config_sha1,
                encoder_state_sha1=state_sha1, encoder_config=config_json)


def regenerate_command(out_file, split='train|test', config='STAGE1_CONFIG',
                       checkpoint='STAGE1_CHECKPOINT'):
    """The ``tools/extract_features.py`` command line that writes a feature cache.

    Args:
        out_file (str): the cache file to write.
        split (str): the dataset split to extract. Defaults to ``'train|test'``.
        config (str): the stage-1 config. Defaults to the placeholder ``'STAGE1_CONFIG'``.
        checkpoint (str): the stage-1 checkpoint. Defaults to the placeholder
            ``'STAGE1_CHECKPOINT'``.

    Returns:
        str: the command, for error messages.
    """
    return (f'python tools/extract_features.py {config} {checkpoint} --split {split} '
            f'--out {out_file}')


def describe_mismatch(cache_meta, expected):
    """Which part differs between a cache's fingerprint and an expected one (dict or str).

    Args:
        cache_meta (dict): the cache's ``meta``, with ``encoder_config_sha1`` and
            ``encoder_state_sha1``.
        expected (dict | str): the expected fingerprint: a dict from
            :func:`encoder_fingerprint`, or a bare fingerprint string (nothing to compare).

    Returns:
        str: ``' (differs in: encoder config and encoder weights)'`` or a part of it, or ``''``
        when nothing can be told.
    """
    if isinstance(expected, str):
        return ''
    parts = []
    if cache_meta.get('encoder_config_sha1') != expected.get('encoder_config_sha1'):
        parts.append('encoder config')
    if cache_meta.get('encoder_state_sha1') != expected.get('encoder_state_sha1'):
        parts.append('encoder weights')
    return f" (differs in: {' and '.join(parts)})" if parts else ''
