"""Small retrieval figures written as PNG files (matplotlib's Agg canvas, no pyplot state).

* :func:`plot_similarity_heatmap`: a (queries x candidates) score matrix.
* :func:`plot_rank_histogram`: the distribution of ground-truth ranks (1-based).
* :func:`plot_diffusion_trajectory`: one query's K re-ranked candidates over the sampling steps,
  ``(steps, K)``: the x̂0 of ``DiffusionReranker.rerank(..., return_trajectory=True)`` or the
  candidate distribution its ``trajectory_observer`` receives; ground-truth candidates marked.
* :func:`plot_modality_gap`: DITS-style histograms of the text-video gap of relevant pairs
  before and after alignment (and of a baseline model), and of the cosine difference.
* :func:`contact_sheet`: a few frames per retrieved video with its rank and score.
"""
import os
import os.path as osp

import numpy as np


def _figure(**kwargs):
    """A matplotlib Figure drawn by the Agg canvas: the global pyplot backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _numpy(values):
    if hasattr(values, 'detach'):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


def _save(fig, path):
    path = str(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, format='png')
    return path


def plot_similarity_heatmap(scores, path, xlabel='video', ylabel='text', title=None):
    """Heatmap of a (Q, C) score matrix (Tensor or array); returns ``path``.

    Args:
        scores (Tensor | ndarray): ``(Q, C)`` scores of queries against candidates.
        path (str): the PNG to write (its folder is created).
        xlabel (str): x-axis label, the candidates. Defaults to ``'video'``.
        ylabel (str): y-axis label, the queries. Defaults to ``'text'``.
        title (str, optional): figure title. Defaults to None (``'similarity Q x C'``).

    Returns:
        str: ``path``.

    Raises:
        ValueError: if ``scores`` is not 2-D.
    """
    scores = _numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f'scores must be 2-D (queries, candidates), got shape {scores.shape}')
    fig = _figure(figsize=(6, 5), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(scores, aspect='auto', cmap='viridis', interpolation='nearest')
    fig.colorbar(image, ax=ax, label='score')
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f'similarity {scores.shape[0]} x '
           f'{scores.shape[1]}')
    fig.tight_layout()
    return _save(fig, path)


def plot_modality_gap(stats, path, norm='l2', baseline=None, title=None):
    """Histograms of the per-pair gap and of the cosine difference (DITS Fig. 1 / Table 9).

    Args:
        stats (dict): per relevant pair, ``gap_before`` (||v - t||), ``gap_after``
            (||v - v0||) and ``cos_diff`` (cos(v0, v) - cos(t, v)), tensors or arrays.
        path (str): the PNG to write.
        norm (str): name of the gap norm for the axis label. Defaults to 'l2'.
        baseline (dict, optional): ``gap_before`` of a baseline model (e.g. X-Pool) on the same
            pairs, drawn as a third histogram. Defaults to None.
        title (str, optional): figure title. Defaults to None.

    Returns:
        str: ``path``.
    """
    fig = _figure(figsize=(10, 4))
    gap_axis, cos_axis = fig.subplots(1, 2)
    series = [('text t (before)', stats['gap_before']), ('aligned v0 (after)', stats['gap_after'])]
    if baseline is not None:
        series.insert(0, ('baseline model t', baseline['gap_before']))
    for label, values in series:
        values = _numpy(values)
        gap_axis.hist(values, bins=40, alpha=0.5, label=f'{label}, mean {values.mean():.2f}')
    gap_axis.set_xlabel(f'{norm.upper()} gap ||v - t|| (relevant pairs)')
    gap_axis.set_ylabel('pairs')
    gap_axis.legend(fontsize=8)
    cos_diff = _numpy(stats['cos_diff'])
    cos_axis.hist(cos_diff, bins=40, color='tab:green')
    cos_axis.axvline(0, color='k', lw=0.8)
    cos_axis.set_xlabel('cos(v0, v) - cos(t, v) (relevant pairs)')
    cos_axis.set_title(f'mean {cos_diff.mean():+.4f}', fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_rank_histogram(ranks, path, max_rank=None, title=None):
    """Histogram of 1-based ground-truth ranks with R@1/5/10 in the title (after ``title``, e.g.
    the direction, when given); returns ``path``.

    Args:
        ranks (Tensor | ndarray | Sequence[int]): 1-based ground-truth ranks, one per query.
        path (str): the PNG to write (its folder is created).
        max_rank (int, optional): the last rank drawn; larger ranks fall in its bin. Defaults
            to None (the largest rank).
        title (str, optional): title prefix, e.g. the direction. Defaults to None.

    Returns:
        str: ``path``.

    Raises:
        ValueError: if ``ranks`` is empty.
    """
    ranks = _numpy(ranks).reshape(-1).astype(np.int64)
    if ranks.size == 0:
        raise ValueError('ranks is empty')
    max_rank = int(max_rank or ranks.max())
    fig = _figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    bins = np.arange(1, max_rank + 2) - 0.5 if max_rank <= 100 else 50
    ax.hist(np.clip(ranks, 1, max_rank), bins=bins, color='tab:blue')
    recalls = ', '.join(f'R@{k} {100 * np.mean(ranks <= k):.1f}' for k in (1, 5, 10))
    ax.set(xlabel='rank of the ground truth', ylabel='queries',
           title=f'{title}: {recalls}' if title else recalls)
    fig.tight_layout()
    return _save(fig, path)


def plot_diffusion_trajectory(trajectory, path, labels=None, title=None, positives=None,
                              ylabel='predicted x0'):
    """One line per candidate over the sampling steps; returns ``path``.

    Args:
        trajectory (Tensor | ndarray): (steps, K) value of each of K candidates per step.
        path (str): output PNG.
        labels (list[str], optional): a legend entry per candidate. Defaults to ``#1``..``#K``.
        title (str, optional): defaults to ``'diffusion re-ranking'``.
        positives (Sequence[bool], optional): (K,) True for ground-truth candidates, drawn
            thick and black with "(GT)" in the legend. Defaults to None (none marked).
        ylabel (str): y-axis label, e.g. ``'p(candidate)'`` for distributions. Defaults to
            ``'predicted x0'``.
    """
    trajectory = _numpy(trajectory)
    if trajectory.ndim != 2:
        raise ValueError(f'trajectory must be (steps, K), got shape {trajectory.shape}')
    steps, num = trajectory.shape
    if labels is not None and len(labels) != num:
        raise ValueError(f'{len(labels)} labels for {num} candidates')
    positives = np.zeros(num, bool) if positives is None else _numpy(positives).astype(bool)
    if positives.shape != (num, ):
        raise ValueError(f'positives must be ({num},), got shape {positives.shape}')
    fig = _figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for k in range(num):
        label = str(labels[k]) if labels is not None else f'#{k + 1}'
        # Ground truth on top of the others, so that it stays visible among K lines.
        style = (dict(color='black', linewidth=2.5, zorder=3, label=f'{label} (GT)')
                 if positives[k] else dict(linewidth=1, label=label))
        ax.plot(np.arange(1, steps + 1), trajectory[:, k], marker='.', **style)
    ax.set(xlabel='sampling step', ylabel=ylabel, title=title or 'diffusion re-ranking')
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if num <= 12:
        ax.legend(fontsize='small')
    elif positives.any():
        ax.legend(handles=[line for line, gt in zip(ax.get_lines(), positives) if gt],
                  fontsize='small')
    fig.tight_layout()
    return _save(fig, path)


def contact_sheet(frames_per_hit, scores, path, labels=None, thumb_size=96):
    """One row per hit: its frames (lists of HxWx3 RGB uint8) with rank, score and label.

    Args:
        frames_per_hit (list[list[ndarray]]): frames of each hit, best hit first.
        scores (list[float]): score of each hit.
        path (str): output PNG.
        labels (list[str], optional): a caption per hit (e.g. the file name).
        thumb_size (int): side of a frame cell in pixels (at 100 dpi). Defaults to 96.
    """
    if len(frames_per_hit) == 0:
        raise ValueError('no hits to draw')
    if len(scores) != len(frames_per_hit):
        raise ValueError(f'{len(scores)} scores for {len(frames_per_hit)} hits')
    rows = len(frames_per_hit)
    cols = max(1, max(len(frames) for frames in frames_per_hit))
    side = thumb_size / 100
    fig = _figure(figsize=(cols * side + 0.2, rows * (side + 0.3)), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, frames in enumerate(frames_per_hit):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis('off')
            if c < len(frames):
                ax.imshow(np.asarray(frames[c]))
        label = f' {labels[r]}' if labels is not None else ''
        axes[r][0].set_title(f'#{r + 1} {float(scores[r]):.3f}{label}', fontsize=7, loc='left')
    fig.tight_layout(pad=0.3)
    return _save(fig, path)
