"""Convert an official DiffusionRet checkpoint (``best.pth`` of jpthu17/DiffusionRet) to mmdret.

The official state dict holds ``clip.*`` (OpenAI CLIP, Linear/Conv/MHA weights and the
two projections in fp16 when trained on GPU), ``frame_position_embeddings``,
``transformerClip.resblocks.*``, ``text_weight_fc``/``video_weight_fc`` and, for stage-2
checkpoints, ``diffusion_model``/``diffusion_model_v``. Every key is renamed to mmdret's layout
and cast to fp32; an unknown key stops the conversion.

Usage::

    python tools/convert/diffusionret_official_to_mmdret.py best.pth diffusionret_mmdret.pth \
        [--config configs/diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py]

With ``--config`` the result is loaded strictly into the model the config builds; the config's
CLIP weight file (``encoder.pretrained``) need not exist, since the converted checkpoint holds CLIP.
"""
import argparse
import os.path as osp

import torch

# official prefix -> mmdret prefix
PREFIXES = (
    ('clip.', 'encoder.clip.'),
    ('frame_position_embeddings.', 'encoder.frame_position_embeddings.'),
    ('transformerClip.', 'encoder.temporal_transformer.'),
    ('text_weight_fc.', 'similarity_head.text_weight_fc.'),
    ('video_weight_fc.', 'similarity_head.video_weight_fc.'),
    ('diffusion_model_v.', 'reranker.v2t_denoiser.'),
    ('diffusion_model.', 'reranker.t2v_denoiser.'),
)


def rename(key):
    key = key.removeprefix('module.')
    for official, ours in PREFIXES:
        if key.startswith(official):
            return ours + key[len(official):]
    raise KeyError(f'unexpected key in the official checkpoint: {key!r} (expected one of the '
                   f'prefixes {[p for p, _ in PREFIXES]})')


def convert_state_dict(official):
    """Rename official keys to mmdret's and cast floating tensors to fp32."""
    converted = {}
    for key, value in official.items():
        converted[rename(key)] = value.float() if value.is_floating_point() else value
    return converted


def load_official(path):
    from mmdret.utils.safe_load import naming_refused_file
    with naming_refused_file(path):  # weights-only: a file needing code is refused
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ValueError(f'{path}: expected a non-empty state dict')
    return checkpoint


def model_config(config):
    """The config's ``model`` with the encoder's CLIP weight file cleared: the converted
    checkpoint already holds CLIP, so the paper configs' ``checkpoints/clip/ViT-B-32.pt`` need not
    exist."""
    from mmengine.config import Config
    model = Config.fromfile(config).model
    if 'pretrained' in model.get('encoder', {}):
        model.encoder.pretrained = None
    return model


def check_strict(state_dict, config):
    """Load ``state_dict`` strictly into the model ``config`` builds (raises on any mismatch)."""
    import mmdret  # noqa: F401
    from mmdret.registry import MODELS
    from mmdret.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(model_config(config))
    model.load_state_dict(state_dict, strict=True)


def check_paths(parser, args):
    """Stop with a usage error naming the argument before anything is loaded or built."""
    for name, path in (('src', args.src), ('--config', args.config)):
        if path is not None and not osp.isfile(path):
            parser.error(f'{name}: no such file: {path}')
    folder = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(folder):
        parser.error(f'dst: the folder {folder} does not exist')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint (best.pth)')
    parser.add_argument('dst', help='output mmdret checkpoint')
    parser.add_argument('--config', help='mmdret config to load the result into strictly')
    args = parser.parse_args(argv)
    check_paths(parser, args)
    state_dict = convert_state_dict(load_official(args.src))
    if args.config:
        check_strict(state_dict, args.config)
    stage = 'generation' if any(k.startswith('reranker.') for k in state_dict) else \
        'discrimination'
    torch.save(dict(state_dict=state_dict, meta=dict(converted_from=args.src, stage=stage)),
               args.dst)
    print(f'Wrote {len(state_dict)} tensors ({stage} checkpoint) to {args.dst}')
    return state_dict


if __name__ == '__main__':
    main()
