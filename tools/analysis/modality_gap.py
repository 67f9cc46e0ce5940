"""Modality-gap histograms of a DITS model (DITS paper Table 9 / Fig. 1 style).

For every test caption k and its ground-truth video i (relevant pairs only):

* gap before alignment: ||pool(t_k, v_i) - t_k||  (CLIP text vs X-Pool video)
* gap after alignment:  ||pool(t_k, v_i) - v0_k|| (DITS aligned text vs X-Pool video)
* similarity difference: cos(v0_k, pool(t_k, v_i)) - cos(t_k, pool(t_k, v_i))

Usage::

    python tools/analysis/modality_gap.py CONFIG CHECKPOINT --out gap.png [--norm l2|l1]

Writes a PNG with the three histograms and prints the means (L1 or L2 gap, positive-pair cosine).
"""
import argparse

import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from mmdret.evaluation.functional import extract_features


def gap_statistics(model, features, norm='l2'):
    """Per relevant pair: gap before/after alignment and the cosine difference (CPU tensors)."""
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


def plot(stats, out, norm='l2'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].hist(stats['gap_before'].numpy(), bins=40, alpha=0.6, label='text t (before)')
    axes[0].hist(stats['gap_after'].numpy(), bins=40, alpha=0.6, label='aligned v0 (after)')
    axes[0].set_xlabel(f'{norm.upper()} gap ||v - t|| (relevant pairs)')
    axes[0].legend()
    axes[1].hist(stats['cos_diff'].numpy(), bins=40, color='tab:green')
    axes[1].axvline(0, color='k', lw=0.8)
    axes[1].set_xlabel('cos(v0, v) - cos(t, v) (relevant pairs)')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def extract(runner):
    runner.model.eval()
    return extract_features(runner.model, runner.test_dataloader)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None)
    parser.add_argument('--out', default='modality_gap.png')
    parser.add_argument('--norm', choices=('l1', 'l2'), default='l2')
    parser.add_argument('--work-dir', default='work_dirs/modality_gap')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config fields, e.g. model.noise_at_test=False')
    args = parser.parse_args()

    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    runner = Runner.from_cfg(cfg)
    if args.checkpoint:
        load_checkpoint(runner.model, args.checkpoint, map_location='cpu')
    model = runner.model.cpu()
    features = extract(runner)
    stats = gap_statistics(model, features, args.norm)
    plot(stats, args.out, args.norm)
    print(f"mean {args.norm} gap: before {stats['gap_before'].mean():.3f}, "
          f"after {stats['gap_after'].mean():.3f}; mean positive cosine: "
          f"before {stats['cos_before'].mean():.4f}, after {stats['cos_after'].mean():.4f}; "
          f'{len(stats["cos_diff"])} pairs -> {args.out}')


if __name__ == '__main__':
    main()
