"""Search a folder of videos with a sentence, with any mmdret model.

Zero-shot, pretrained CLIP and no checkpoint (the weights are downloaded once by open_clip)::

    python tools/retrieve.py configs/zeroshot/clip4clip-meanp_vit-b-32_zeroshot.py \\
        --videos my_videos/ --query "a dog catches a frisbee"

A trained model (a config file or a config name, and its checkpoint)::

    python tools/retrieve.py diffusionret_stage2_tiny_1xb64-demo \\
        work_dirs/demo/stage2/epoch_5.pth --videos data/demo_msrvtt/videos \\
        --query "a red ball rolls to the left" --topk 5 --show sheets/ --html results.html

The gallery is encoded once and cached (``--cache``, default under ``work_dirs/gallery_cache/``);
later runs encode only new or changed videos. Files that cannot be decoded are skipped with a
warning that quotes the decoder. Prints a ranked table per query; ``--out`` writes the hits as
JSON, ``--show`` one contact sheet PNG per query and ``--html`` a results page. Indexing a large
folder in several processes: ``torchrun --nproc_per_node N tools/retrieve.py ...`` (each process
encodes a share of the files into one merged cache).
"""
import argparse
import hashlib
import json
import os
import os.path as osp

import torch
from mmengine.config import DictAction

import mmdret  # noqa: F401
from mmdret.apis import TextVideoRetrievalInferencer
from mmdret.apis.text_video_retrieval_inferencer import resolve_model_config
from mmdret.apis.video_gallery_index import VIDEO_EXTENSIONS, list_videos
from mmdret.models.encoders.clip_builder import resolve_clip_weights
from mmdret.utils import owned_process_group


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text}')
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        description='Text-to-video search over a folder of your own videos',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('config', help='model config file, or a config name under configs/ '
                        '(e.g. xpool_tiny_1xb64-demo)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file; leave out for a zero-shot config '
                        '(configs/zeroshot/, pretrained CLIP)')
    parser.add_argument('--videos', required=True,
                        help=f'folder of videos, searched recursively '
                        f'({", ".join(VIDEO_EXTENSIONS)})')
    parser.add_argument('--query', required=True, action='append',
                        help='search sentence (repeat for several queries)')
    parser.add_argument('--topk', type=positive_int, default=5, help='hits per query')
    parser.add_argument('--cache', help='gallery cache file (default: work_dirs/gallery_cache/'
                        '<folder>_<hash of folder and config>.pth; "none" disables caching)')
    parser.add_argument('--shortlist', type=positive_int, default=None,
                        help='coarse shortlist size before the full scoring '
                        '(default: score the whole gallery)')
    parser.add_argument('--coarse-score', choices=('score', 'embedding'), default='score',
                        help="shortlist by the model's score in gallery chunks, or by "
                        'single-vector embeddings')
    parser.add_argument('--coarse-backend', choices=('auto', 'torch', 'faiss'), default='auto',
                        help="search of the 'embedding' shortlist (faiss: pip install "
                        'mmdret[faiss]; its index is saved next to the cache)')
    parser.add_argument('--batch-size', type=positive_int, default=8,
                        help='videos decoded and encoded at once')
    parser.add_argument('--device', default=None,
                        help='torch device, e.g. cpu, cuda, cuda:1 (default: cuda when '
                        'available, else cpu)')
    parser.add_argument('--out', help='write the hits to this JSON file')
    parser.add_argument('--show', metavar='DIR',
                        help='write one contact sheet PNG per query into this folder')
    parser.add_argument('--html', metavar='FILE', help='write an HTML results page')
    parser.add_argument('--show-frames', type=positive_int, default=4,
                        help='frames per hit in --show and --html')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys, e.g. model.encoder.pretrained=ViT-B-32.pt')
    return parser


def check_args(parser, args):
    """Every argument and folder, before any model is built: errors name the flag."""
    if not osp.exists(args.videos):
        parser.error(f'--videos {args.videos!r} does not exist')
    if not osp.isdir(args.videos):
        parser.error(f'--videos {args.videos!r} is not a folder (expected a folder of videos)')
    if not list_videos(args.videos):
        parser.error(f'--videos {args.videos!r} holds no video files '
                     f'({", ".join(VIDEO_EXTENSIONS)})')
    for query in args.query:
        if not query.strip():
            parser.error('--query must be a non-empty sentence')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.device is not None:
        try:
            device = torch.device(args.device)
        except RuntimeError as error:
            parser.error(f'--device {args.device!r}: {error}')
        if device.type == 'cuda' and not torch.cuda.is_available():
            parser.error(f'--device {args.device!r}: CUDA is not available here')
    for flag, value in (('--show', args.show), ('--html', args.html), ('--out', args.out)):
        if value and flag == '--show' and osp.isfile(value):
            parser.error(f'--show {value!r} is a file: expected a folder for the PNGs')
        if value and flag != '--show' and osp.isdir(value):
            parser.error(f'{flag} {value!r} is a folder: expected a file name')
    try:
        cfg = resolve_model_config(args.config)
    except (FileNotFoundError, TypeError) as error:
        parser.error(f'config: {error}')
    if args.cfg_options:
        bad = [item for item in args.cfg_options if '=' not in item]
        if bad:
            parser.error(f'--cfg-options {bad[0]!r}: expected KEY=VALUE')
        namespace = argparse.Namespace()
        DictAction(option_strings=['--cfg-options'], dest='options')(
            parser, namespace, args.cfg_options)
        cfg.merge_from_dict(namespace.options)
    encoder = cfg.get('model', {}).get('encoder') or {}
    if encoder.get('pretrained'):
        try:  # a pretrained tag offline fails here, before the model is built
            resolve_clip_weights(encoder.get('arch', 'ViT-B-32'), encoder['pretrained'],
                                 encoder.get('quick_gelu', True))
        except (FileNotFoundError, RuntimeError, ValueError) as error:
            parser.error(f'model.encoder.pretrained: {error}')
    return cfg


def default_cache(videos, config):
    folder = osp.abspath(videos)
    digest = hashlib.sha1(f'{folder}|{config}'.encode('utf-8', 'surrogateescape')).hexdigest()
    return osp.join('work_dirs', 'gallery_cache', f'{osp.basename(folder)}_{digest[:8]}.pth')


def format_table(query, hits):
    width = max([len(osp.basename(hit['video'])) for hit in hits] + [5])
    lines = [f'query: {query}', f'{"rank":>4}  {"score":>9}  {"video":<{width}}  path']
    lines += [f'{hit["rank"]:>4}  {hit["score"]:>9.4f}  {osp.basename(hit["video"]):<{width}}  '
              f'{hit["video"]}' for hit in hits]
    return '\n'.join(lines)


def init_distributed(device):
    """Join the ``torchrun`` process group (gloo on CPU, nccl on CUDA) when launched by it."""
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1 or torch.distributed.is_initialized():
        return
    cuda = device != 'cpu' and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    torch.distributed.init_process_group('nccl' if cuda else 'gloo')


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg = check_args(parser, args)
    cache = args.cache or default_cache(args.videos, args.config)
    if cache.lower() == 'none':
        cache = None
    init_distributed(args.device)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    device = args.device
    if device is None and torch.cuda.is_available() and torch.distributed.is_initialized():
        device = f'cuda:{torch.cuda.current_device()}'
    inferencer = TextVideoRetrievalInferencer(
        cfg, weights=args.checkpoint, prototype=args.videos, prototype_cache=cache,
        device=device, gallery_batch_size=args.batch_size, shortlist=args.shortlist,
        coarse_score=args.coarse_score, coarse_backend=args.coarse_backend,
        show_progress=rank == 0)
    if rank != 0:  # the other processes only helped to encode the gallery
        return None
    print(f'gallery: {len(inferencer.gallery_paths)} videos ({inferencer.num_encoded} encoded, '
          f'{inferencer.num_reused} from the cache, {len(inferencer.failed_videos)} unreadable)')
    results = inferencer(args.query, topk=args.topk, show_dir=args.show, html_file=args.html,
                         show_frames=args.show_frames)
    for query, hits in zip(args.query, results):
        print(format_table(query, hits))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, videos=args.videos,
                           failed_videos=inferencer.failed_videos,
                           results=[dict(query=q, hits=h) for q, h in zip(args.query, results)]),
                      f, indent=2)
        print(f'results written to {args.out}')
    for path in inferencer.visualization or []:
        print(f'written: {path}')
    return results


if __name__ == '__main__':
    with owned_process_group():
        main()
