"""Each retrieval plot writes a readable, non-empty PNG of a sensible size."""
import numpy as np
import pytest
import torch
from PIL import Image

from mmdret.visualization import (contact_sheet, plot_diffusion_trajectory, plot_modality_gap,
                                  plot_rank_histogram, plot_similarity_heatmap)


def check_png(path, min_side=100, max_side=2000):
    with Image.open(path) as image:
        assert image.format == 'PNG'
        width, height = image.size
        pixels = np.asarray(image.convert('L'))
    assert min_side <= width <= max_side and min_side <= height <= max_side
    assert pixels.std() > 0  # not a blank canvas
    return pixels


def test_similarity_heatmap(tmp_path):
    path = plot_similarity_heatmap(torch.randn(6, 9), tmp_path / 'sub/heat.png')
    check_png(path)
    with pytest.raises(ValueError):
        plot_similarity_heatmap(np.zeros(3), tmp_path / 'bad.png')


def test_rank_histogram(tmp_path):
    check_png(plot_rank_histogram(np.random.RandomState(0).randint(1, 30, 200),
                                  tmp_path / 'ranks.png'))
    check_png(plot_rank_histogram(torch.arange(1, 500), tmp_path / 'many.png'))
    with pytest.raises(ValueError):
        plot_rank_histogram([], tmp_path / 'empty.png')


def test_modality_gap(tmp_path):
    rng = np.random.RandomState(0)
    stats = dict(gap_before=torch.tensor(rng.rand(50) + 2), gap_after=rng.rand(50) + 1,
                 cos_diff=rng.randn(50) * 0.01)
    alone = check_png(plot_modality_gap(stats, tmp_path / 'gap.png', 'l1'))
    both = check_png(plot_modality_gap(stats, tmp_path / 'gap_base.png', 'l1',
                                       baseline=dict(gap_before=rng.rand(50) + 3)))
    assert alone.shape == both.shape and (alone != both).any()  # the baseline is drawn


def test_diffusion_trajectory(tmp_path):
    trajectory = torch.rand(5, 4)
    check_png(plot_diffusion_trajectory(trajectory, tmp_path / 'traj.png',
                                        labels=['a', 'b', 'c', 'd']))
    with pytest.raises(ValueError):
        plot_diffusion_trajectory(trajectory, tmp_path / 'bad.png', labels=['a'])
    with pytest.raises(ValueError):
        plot_diffusion_trajectory(trajectory, tmp_path / 'bad.png', positives=[True])


@pytest.mark.parametrize('num_candidates', [4, 32])
def test_diffusion_trajectory_marks_the_ground_truth(tmp_path, num_candidates):
    # A distribution per step, as the re-ranker's trajectory_observer receives it.
    distributions = torch.randn(6, num_candidates, generator=torch.Generator().manual_seed(0))
    distributions = distributions.softmax(dim=1)
    positives = torch.zeros(num_candidates, dtype=torch.bool)
    positives[2] = True
    plain = plot_diffusion_trajectory(distributions, tmp_path / 'plain.png', ylabel='p')
    marked = plot_diffusion_trajectory(distributions, tmp_path / 'marked.png', ylabel='p',
                                       positives=positives)
    check_png(marked)

    def dark_pixels(path):  # the ground-truth line is thick and black
        with Image.open(path) as image:
            return int((np.asarray(image.convert('L')) < 40).sum())

    assert dark_pixels(marked) > dark_pixels(plain) + 300


def test_contact_sheet(tmp_path):
    rng = np.random.RandomState(0)
    frames = [[rng.randint(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(n)]
              for n in (4, 3, 4)]
    path = contact_sheet(frames, [0.9, 0.5, 0.1], tmp_path / 'sheet.png',
                         labels=['a.mp4', 'b.mp4', 'c.mp4'])
    check_png(path, min_side=200)
    with Image.open(path) as image:
        assert image.size[0] > image.size[1] / 2  # 4 frames across, 3 rows down
    with pytest.raises(ValueError):
        contact_sheet([], [], tmp_path / 'none.png')
