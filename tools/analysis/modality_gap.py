"""Modality-gap histograms of a DITS model (DITS paper Table 9 / Fig. 1 style).

For every test caption k and its ground-truth video i (relevant pairs only):

* gap before alignment: ||pool(t_k, v_i) - t_k||  (CLIP text vs X-Pool video)
* gap after alignment:  ||pool(t_k, v_i) - v0_k|| (DITS aligned text vs X-Pool video)
* similarity difference: cos(v0_k, pool(t_k, v_i)) - cos(t_k, pool(t_k, v_i))

The paper (Table 9) compares the gap of an X-Pool model with that of a DITS model;
``--baseline CONFIG CHECKPOINT`` adds the baseline model's ||pool(t_k, v_i) - t_k|| on the same
pairs.

Usage::

    python tools/analysis/modality_gap.py CONFIG CHECKPOINT --out gap.png [--norm l2|l1]
        [--baseline XPOOL_CONFIG XPOOL_CHECKPOINT]

Writes a PNG with the histograms (:func:`mmdret.visualization.plot_modality_gap`) and prints the
means (L1 or L2 gap, positive-pair cosine).
"""
import argparse

import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from mmdret.evaluation.functional import extract_features
from mmdret.visualization import plot_modality_gap


def gap_statistics(model, features, norm='l2'):
    """Per relevant pair: gap before/after alignment and the cosine difference (CPU tensors).

    Args:
        model (XPool): an X-Pool or DITS model in eval mode.
        features (dict): ``dict(text=..., video=...)`` from :func:`extract_features`.
        norm (str): ``'l2'`` or ``'l1'``. Defaults to 'l2'.
    """
    text, video = features['text'], features['video']
    position = {int(v): j for j, v in enumerate(video['index'])}
    columns = torch.tensor([position[int(v)] for v in text['video_index']])
    frames, mask = video['frames'][columns], video['frame_mask'][columns]
    query = model.pooling_query(text)
    with torch.no_grad():
        # pool(t_k, v_i) for the paired video only: the diagonal of a (k, k) pooling.
        pooled = torch.stack([model.pooling(query[k:k + 1], frames[k:k + 1], mask[k:k + 1])[0, 0]
                              for k in range(query.shape[0])])
    emb = text['emb']
    aligned = text.get('aligned', emb)
    order = 1 if norm == 'l1' else 2
    before = (pooled - emb).norm(p=order, dim=-1)
    after = (pooled - aligned).norm(p=order, dim=-1)
    cos_before = F.cosine_similarity(emb, pooled, dim=-1)
    cos_after = F.cosine_similarity(aligned, pooled, dim=-1)
    return dict(gap_before=before, gap_after=after, cos_before=cos_before, cos_after=cos_after,
                cos_diff=cos_after - cos_before)


def model_statistics(config, checkpoint, work_dir, norm, cfg_options=None):
    """Gap statistics of one model on its config's test set.

    Args:
        config (str): config file.
        checkpoint (str, optional): checkpoint file.
        work_dir (str): the runner's work_dir.
        norm (str): ``'l2'`` or ``'l1'``.
        cfg_options (dict, optional): config overrides. Defaults to None.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmdret.utils.safe_load import load_model_checkpoint
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(cfg_options or {})
    cfg.work_dir = work_dir
    runner = Runner.from_cfg(cfg)
    if checkpoint:
        load_model_checkpoint(runner.model, checkpoint)
    model = runner.model.cpu().eval()
    return gap_statistics(model, extract_features(model, runner.test_dataloader), norm)


def summary(name, stats, norm):
    """One line of mean gaps and cosines.

    Args:
        name (str): the model's label.
        stats (dict): :func:`gap_statistics` of the model.
        norm (str): the gap's norm.
    """
    return (f"{name}: mean {norm} gap t {stats['gap_before'].mean():.3f}, v0 "
            f"{stats['gap_after'].mean():.3f}; mean positive cosine t "
            f"{stats['cos_before'].mean():.4f}, v0 {stats['cos_after'].mean():.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None)
    parser.add_argument('--out', default='modality_gap.png')
    parser.add_argument('--norm', choices=('l1', 'l2'), default='l2')
    parser.add_argument('--baseline', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='a baseline model (X-Pool) whose gap is drawn too')
    parser.add_argument('--work-dir', default='work_dirs/modality_gap')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config fields, e.g. model.noise_at_test=False')
    args = parser.parse_args()

    stats = model_statistics(args.config, args.checkpoint, args.work_dir, args.norm,
                             args.cfg_options)
    baseline = None
    if args.baseline:
        baseline = model_statistics(*args.baseline, args.work_dir, args.norm)
        if baseline['gap_before'].shape != stats['gap_before'].shape:
            raise ValueError('the baseline config must test the same pairs: '
                             f"{len(baseline['gap_before'])} vs {len(stats['gap_before'])}")
        print(summary('baseline', baseline, args.norm))
    plot_modality_gap(stats, args.out, args.norm, baseline)
    print(f'{summary("model", stats, args.norm)}; {len(stats["cos_diff"])} pairs -> {args.out}')


if __name__ == '__main__':
    main()
