"""Search a folder of videos with a sentence.

Example::

    python tools/retrieve.py configs/diffusionret/diffusionret_stage1_tiny_1xb64-demo.py \\
        work_dirs/diffusionret_stage1_tiny_1xb64-demo/epoch_8.pth \\
        --videos data/demo_msrvtt/videos --query "a red ball rolls to the left" --topk 5 \\
        --cache work_dirs/gallery.pth --out results.json --show contact.png

The gallery is encoded once and cached (``--cache``, default under ``work_dirs/gallery_cache/``);
later runs encode only new or changed videos. Prints a ranked table; ``--out`` writes the hits as
JSON and ``--show`` a contact sheet (a few frames per hit with its score).
"""
import argparse
import hashlib
import json
import os
import os.path as osp

import mmdret  # noqa: F401
from mmdret.apis import TextVideoRetrievalInferencer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Text-to-video search over a video folder')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--videos', required=True, help='folder of videos (searched recursively)')
    parser.add_argument('--query', required=True, action='append',
                        help='search sentence (repeat for several queries)')
    parser.add_argument('--topk', type=int, default=5, help='hits per query')
    parser.add_argument('--cache', help='gallery cache file (default: work_dirs/gallery_cache/'
                        '<folder>_<hash of its path>.pth; "none" disables caching)')
    parser.add_argument('--shortlist', type=int, default=None,
                        help='coarse shortlist size before the full scoring '
                        '(default: score the whole gallery)')
    parser.add_argument('--coarse-score', choices=('similarity', 'embedding'),
                        default='similarity',
                        help='shortlist by the stage-1 similarity or by pooled embeddings')
    parser.add_argument('--coarse-backend', choices=('auto', 'torch', 'faiss'), default='auto',
                        help="search of the 'embedding' shortlist (faiss: pip install "
                        "mmdret[faiss])")
    parser.add_argument('--batch-size', type=int, default=8, help='videos encoded at once')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument('--out', help='write the hits to this JSON file')
    parser.add_argument('--show', help='write a contact sheet PNG of the hits')
    parser.add_argument('--show-frames', type=int, default=4, help='frames per hit in --show')
    return parser.parse_args(argv)


def hit_frames(path, num_frames):
    """A few RGB frames of a video spread over its length, for the contact sheet."""
    import decord

    from mmdret.datasets.transforms.load_video_frames import uniform_subsample
    reader = decord.VideoReader(path, num_threads=1)
    indices = uniform_subsample(list(range(len(reader))), num_frames)
    return list(reader.get_batch(indices).asnumpy())


def default_cache(videos):
    folder = osp.abspath(videos)
    digest = hashlib.sha1(folder.encode()).hexdigest()[:8]
    return osp.join('work_dirs', 'gallery_cache', f'{osp.basename(folder)}_{digest}.pth')


def format_table(query, hits):
    width = max([len(osp.basename(hit['video'])) for hit in hits] + [5])
    lines = [f'query: {query}', f'{"rank":>4}  {"score":>9}  {"video":<{width}}  path']
    lines += [f'{hit["rank"]:>4}  {hit["score"]:>9.4f}  {osp.basename(hit["video"]):<{width}}  '
              f'{hit["video"]}' for hit in hits]
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    cache = args.cache or default_cache(args.videos)
    if cache.lower() == 'none':
        cache = None
    inferencer = TextVideoRetrievalInferencer(
        args.config, weights=args.checkpoint, prototype=args.videos, prototype_cache=cache,
        device=args.device, batch_size=args.batch_size, shortlist=args.shortlist,
        coarse_score=args.coarse_score, coarse_backend=args.coarse_backend)
    print(f'gallery: {len(inferencer.gallery_paths)} videos ({inferencer.num_encoded} encoded, '
          f'{inferencer.num_reused} from the cache, {len(inferencer.failed_videos)} unreadable)')
    results = inferencer(args.query, topk=args.topk)
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
    if args.show:
        from mmdret.visualization import contact_sheet
        hits = results[0]
        contact_sheet([hit_frames(hit['video'], args.show_frames) for hit in hits],
                      [hit['score'] for hit in hits], args.show,
                      labels=[osp.basename(hit['video']) for hit in hits])
        print(f'contact sheet of "{args.query[0]}" written to {args.show}')
    return results


if __name__ == '__main__':
    main()
