"""Cache the frozen stage-1 features of a split for DiffusionRet stage 2.

``python tools/extract_features.py CONFIG CHECKPOINT --out FILE [--split train|val|test|both]``

Stage 2 freezes the encoder, so its token features (text) and frame features (video) can be
computed once: this tool builds the model of CONFIG (a stage-1 or stage-2 config; only
``model.encoder`` and the split's dataloader are used), loads the encoder weights of CHECKPOINT,
encodes every video and every caption of the split exactly once and writes one file per split,
which ``CachedFeatureDataset`` reads.

Every caption of every video, once: the split's dataset is built as configured (same
annotations, same pipeline, same video/text indices) and its items are regrouped per video (one
item per video with all its captions, as a test-mode dataset yields them), so a training split
decodes each video once instead of once per caption. The order is deterministic (no shuffling,
no batch sampler); with ``--launcher pytorch`` the videos are sharded over the ranks
(``DefaultSampler(shuffle=False)``), gathered by global index (``gather_indexed``, which holds the
whole split's features in CPU memory on every rank; ``--fp16`` halves it) and rank 0 writes the
file.
A video that fails to decode is kept with an empty frame mask and flagged (``videos.corrupt``;
the cached training set drops it) unless the dataset's ``corrupt_video_policy`` is ``'raise'``.
Random augmentations in the pipeline would be frozen into the cache (the official pipelines have
none).

The file (``torch.save``; tensors in float32, or float16 with ``--fp16``)::

    meta:   format, format_version, split, fingerprint, encoder_config_sha1, encoder_state_sha1,
            encoder_config, checkpoint, config, dataset, max_words, max_frames, embed_dim, dtype,
            num_videos, num_texts, num_corrupt, mmdret_version, created
    texts:  caption (list[str], N), tokens (N, L, D) raw token features (``encode_text``, zero
            after the mask), token_mask (N, L), eot (N, D), video_index (N,)
    videos: video_id (list[str], V), frames (V, T, D) (``encode_video``), frame_mask (V, T),
            corrupt (V,) bool

Texts and videos are stored in global index order (``text_idx`` / ``video_idx`` of the dataset).
The fingerprint identifies the encoder (``model.encoder`` config + weights, see
:mod:`mmdret.utils.feature_cache`); stage 2 refuses a cache whose fingerprint differs from its
model's encoder (``FeatureCacheCheckHook``).
"""
import argparse
import copy
import os
import os.path as osp
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import BaseDataset
from mmengine.dist import barrier, get_world_size, init_dist, is_main_process
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader, Runner
from mmengine.utils import ProgressBar
from torch.utils.data import Dataset

import mmdret
from mmdret.datasets.transforms import VideoDecodeError
from mmdret.evaluation.functional import extract_features
from mmdret.models.retrievers import DiffusionRet
from mmdret.registry import DATASETS, MODELS
from mmdret.utils import owned_process_group, register_all_modules, setup_cpu_distributed
from mmdret.utils.distributed import gather_indexed
from mmdret.utils.feature_cache import CACHE_FORMAT, CACHE_FORMAT_VERSION, encoder_fingerprint
from mmdret.utils.safe_load import checkpoint_safe_globals, naming_refused_file

SPLITS = dict(train='train_dataloader', val='val_dataloader', test='test_dataloader')


def parse_args(argv=None):
    """The command line.

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
    """
    parser = argparse.ArgumentParser(
        description='Cache frozen stage-1 text/video features for DiffusionRet stage 2')
    parser.add_argument('config', help='config whose model.encoder and dataloaders are used')
    parser.add_argument('checkpoint', help='stage-1 (or stage-2) checkpoint')
    parser.add_argument('--out', required=True,
                        help="output file; may contain '{split}'. With several splits and no "
                             "'{split}', '_<split>' is inserted before the extension")
    parser.add_argument('--split', choices=[*SPLITS, 'both'], default='both',
                        help="split(s) to encode; 'both' = train and test. Defaults to both")
    parser.add_argument('--fp16', action='store_true', help='store features as float16')
    parser.add_argument('--batch-size', type=int,
                        help="videos per batch and rank (default: the split's batch_size)")
    parser.add_argument('--num-workers', type=int,
                        help="dataloader workers (default: the split's num_workers)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def output_paths(out, splits):
    """The output file of each split.

    Args:
        out (str): the ``--out`` value.
        splits (list[str]): the splits to encode.
    """
    if '{split}' in out:
        return {split: out.format(split=split) for split in splits}
    if len(splits) == 1:
        return {splits[0]: out}
    root, ext = osp.splitext(out)
    return {split: f'{root}_{split}{ext or ".pth"}' for split in splits}


class PerVideoView(Dataset):
    """The items of a retrieval dataset regrouped per video, each with all its captions.

    Reads the dataset's annotation entries (``BaseDataset.get_data_info``, bypassing per-item
    caption sampling) and runs its pipeline on ``{video_id, filename, video_idx, texts,
    text_idx}`` per video, captions in ``text_idx`` order. Decode failures follow the dataset's
    ``corrupt_video_policy`` except that a video is never dropped: ``'raise'`` raises, anything
    else keeps it masked (``video_decode_failed``), so the cache covers the whole split.

    Args:
        dataset (BaseRetrievalDataset): the split's dataset, fully initialised.
    """

    def __init__(self, dataset):
        if hasattr(dataset, 'feature_meta'):
            raise TypeError(f'the dataset is a {type(dataset).__name__} (already cached '
                            'features): pass the stage-1 config, whose dataloaders decode videos')
        self.dataset = dataset
        groups = {}
        for idx in range(len(dataset)):
            info = BaseDataset.get_data_info(dataset, idx)
            missing = {'video_idx', 'text_idx', 'texts'} - set(info)
            if missing:
                raise TypeError(f'{type(dataset).__name__} items lack {sorted(missing)}; '
                                'extract_features needs a retrieval dataset '
                                '(BaseRetrievalDataset)')
            group = groups.setdefault(info['video_idx'], dict(info, texts=[], text_idx=[]))
            group['texts'].extend(info['texts'])
            group['text_idx'].extend(info['text_idx'])
        self.videos = []
        for video_idx in sorted(groups):
            group = groups[video_idx]
            order = sorted(range(len(group['text_idx'])), key=group['text_idx'].__getitem__)
            group.update(texts=[group['texts'][i] for i in order],
                         text_idx=[group['text_idx'][i] for i in order])
            self.videos.append(group)
        self.policy = getattr(dataset, 'corrupt_video_policy', 'mask')

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, idx):
        try:
            return self.dataset.pipeline(copy.deepcopy(self.videos[idx]))
        except VideoDecodeError as error:
            if self.policy == 'raise':
                raise
            print_log(f'{error}: cached with an empty frame mask (videos.corrupt)',
                      logger='current', level=30)
            return self.dataset.pipeline(dict(copy.deepcopy(self.videos[idx]),
                                              video_decode_failed=True))


def load_encoder_weights(model, checkpoint):
    """Load ``checkpoint`` into ``model``; every encoder weight must come from it.

    Args:
        model (DiffusionRet): the model of the config.
        checkpoint (str): checkpoint file.
    """
    with naming_refused_file(checkpoint), checkpoint_safe_globals():
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state_dict, dict):
        raise ValueError(f'{checkpoint}: expected a checkpoint dict with a state_dict')
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    missing, _ = model.load_state_dict(state_dict, strict=False)
    missing = [key for key in missing if key.startswith('encoder.')]
    if missing:
        raise KeyError(f'{checkpoint} lacks {len(missing)} encoder weights of this config\'s '
                       f'model, e.g. {missing[:3]}: is it a checkpoint of this config?')


def build_model(cfg, checkpoint):
    """The config's DiffusionRet with the checkpoint's encoder, in eval mode.

    Args:
        cfg (Config): the config.
        checkpoint (str): checkpoint file.
    """
    model_class = MODELS.get(cfg.model.type)
    if not (isinstance(model_class, type) and issubclass(model_class, DiffusionRet)):
        raise TypeError(f'{cfg.filename}: model.type is {cfg.model.type!r}; feature caches hold '
                        'the frozen stage-1 features of a DiffusionRet model')
    model = MODELS.build(cfg.model)
    load_encoder_weights(model, checkpoint)
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() \
        else torch.device('cpu')
    return model.to(device).eval()


def build_loader(cfg, split, args):
    """The split's dataset, its per-video view and a deterministic dataloader over it.

    Args:
        cfg (Config): the config.
        split (str): a key of :data:`SPLITS`.
        args (Namespace): the parsed command line (batch size, workers).
    """
    key = SPLITS[split]
    if cfg.get(key) is None:
        raise ValueError(f'{cfg.filename}: no {key} for --split {split}')
    loader_cfg = copy.deepcopy(cfg[key])
    dataset = DATASETS.build(loader_cfg.pop('dataset'))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    view = PerVideoView(dataset)
    num_workers = args.num_workers if args.num_workers is not None \
        else loader_cfg.get('num_workers', 0)
    loader = Runner.build_dataloader(dict(
        dataset=view,
        batch_size=args.batch_size or loader_cfg.get('batch_size', 1),
        num_workers=num_workers,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=loader_cfg.get('collate_fn', dict(type='pseudo_collate'))))
    return dataset, view, loader


# What a cache keeps of the retriever contract's features (``BaseRetriever.extract_feat``).
CACHED_TEXT_FEATURES = ('tokens', 'token_mask', 'eot', 'video_index', 'index')
CACHED_VIDEO_FEATURES = ('frames', 'frame_mask', 'corrupt', 'index')


def local_features(model, loader, dtype):
    """Encode this rank's shard through the retriever contract
    (:func:`~mmdret.evaluation.functional.extract_features`) and keep what the cache stores.

    Args:
        model (DiffusionRet): the model in eval mode.
        loader (DataLoader): this rank's batches of :class:`PerVideoView` items.
        dtype (torch.dtype): dtype of the stored float features.

    Returns:
        list[dict]: per-text and per-video CPU features with their global ``index``.
    """
    progress = ProgressBar(len(loader)) if is_main_process() else None

    def on_batch(stage, batch_idx, data_batch):
        if stage == 'after' and progress is not None:
            progress.update()

    features = extract_features(model, loader, on_batch=on_batch)
    if progress is not None:
        print()
    return [{key: (value.to(dtype) if value.is_floating_point() else value).cpu()
             for key, value in features[modality].items() if key in keys}
            for modality, keys in (('text', CACHED_TEXT_FEATURES),
                                   ('video', CACHED_VIDEO_FEATURES))]


def gather_all(features, total, what):
    """Features of all ranks in global index order (sampler padding dropped).

    Args:
        features (dict): this rank's features with their ``index``.
        total (int): items of the split.
        what (str): name of the items, for the error.
    """
    indices = features.pop('index')
    gathered, indices = gather_indexed(features, indices)
    if not torch.equal(indices, torch.arange(total)):
        raise ValueError(f'extracted {indices.numel()} {what} with indices not covering '
                         f'0..{total - 1}; the dataset must be the whole split (no indices / '
                         'filter_cfg)')
    return gathered


def extract_split(cfg, args, model, fingerprint, split, out_file):
    """Encode one split and (rank 0) write its cache file.

    Args:
        cfg (Config): the config.
        args (Namespace): the parsed command line.
        model (DiffusionRet): the model.
        fingerprint (dict): the encoder fingerprint (:func:`encoder_fingerprint`).
        split (str): a key of :data:`SPLITS`.
        out_file (str): the cache file.
    """
    dataset, view, loader = build_loader(cfg, split, args)
    num_videos = len(view)
    num_texts = sum(len(video['texts']) for video in view.videos)
    if not num_videos:
        raise ValueError(f'[{split}] the dataset of {SPLITS[split]} is empty')
    if is_main_process():
        print_log(f'[{split}] encoding {num_videos} videos and {num_texts} captions on '
                  f'{get_world_size()} rank(s) -> {out_file}', logger='current')
    dtype = torch.float16 if args.fp16 else torch.float32
    texts, videos = local_features(model, loader, dtype)
    texts = gather_all(texts, num_texts, 'captions')
    videos = gather_all(videos, num_videos, 'videos')
    if is_main_process():
        captions = {i: c for video in view.videos
                    for i, c in zip(video['text_idx'], video['texts'])}
        texts['caption'] = [captions[i] for i in range(num_texts)]
        videos['video_id'] = [video['video_id'] for video in view.videos]
        meta = dict(
            format=CACHE_FORMAT, format_version=CACHE_FORMAT_VERSION, split=split,
            **fingerprint,
            checkpoint=osp.abspath(args.checkpoint),
            config=osp.abspath(args.config),
            dataset=dict(type=type(dataset).__name__,
                         ann_file=str(getattr(dataset, 'ann_file', ''))),
            max_words=int(texts['tokens'].shape[1]), max_frames=int(videos['frames'].shape[1]),
            embed_dim=int(texts['tokens'].shape[2]), dtype=str(dtype).replace('torch.', ''),
            num_videos=num_videos, num_texts=num_texts,
            num_corrupt=int(videos['corrupt'].sum()),
            mmdret_version=mmdret.__version__,
            created=time.strftime('%Y-%m-%dT%H:%M:%S'))
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        partial = f'{out_file}.part{os.getpid()}'
        torch.save(dict(meta=meta, texts=texts, videos=videos), partial)
        os.replace(partial, out_file)
        print_log(f'[{split}] wrote {out_file}: {num_videos} videos, {num_texts} captions, '
                  f'{meta["num_corrupt"]} corrupt, fingerprint {meta["fingerprint"]}',
                  logger='current')
    barrier()


def main(argv=None):
    """Write the feature caches; returns the output file of each split.

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
    """
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        if torch.cuda.is_available():
            init_dist(args.launcher)
        else:
            setup_cpu_distributed(cfg, args.launcher)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    splits = ['train', 'test'] if args.split == 'both' else [args.split]
    outputs = output_paths(args.out, splits)
    model = build_model(cfg, args.checkpoint)
    fingerprint = encoder_fingerprint(cfg.model.encoder, model.encoder)
    if is_main_process():
        print_log(f'encoder fingerprint {fingerprint["fingerprint"]}', logger='current')
    for split in splits:
        extract_split(cfg, args, model, fingerprint, split, outputs[split])
    return outputs


if __name__ == '__main__':
    with owned_process_group():
        main()
