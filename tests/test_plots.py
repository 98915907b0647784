"""gan.plots: the grid puts each image in its cell, the PNG holds that grid, the curves
draw the keys they should; and importing gan pulls in no matplotlib."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan import plots

REPO = Path(__file__).resolve().parents[1]


def read_png(path):
    from matplotlib.image import imread
    return imread(path)


def test_grid_places_each_image_in_its_cell():
    images = np.stack([np.full((28, 28), k / 11) for k in range(12)])
    grid = plots.make_grid(images, nrow=5, padding=2)
    assert grid.shape == (3 * 30 + 2, 5 * 30 + 2)
    for k in range(12):
        top, left = 2 + (k // 5) * 30, 2 + (k % 5) * 30
        np.testing.assert_allclose(grid[top:top + 28, left:left + 28], k / 11, rtol=1e-6)
    assert np.all(grid[:2] == 0.5) and np.all(grid[-30:, 2 + 2 * 30:] == 0.5)  # padding, empty cells


def test_grid_accepts_channel_axis_and_maps_the_value_range():
    rng = np.random.default_rng(0)
    unit = rng.uniform(-1, 1, size=(6, 1, 28, 28)).astype(np.float32)
    zero_one = plots.make_grid((unit[:, 0] + 1) / 2, nrow=3)
    np.testing.assert_allclose(plots.make_grid(unit, nrow=3, value_range=(-1, 1)), zero_one, atol=1e-6)
    clipped = plots.make_grid(np.full((1, 28, 28), 1.5), padding=0)
    assert clipped.max() == 1.0
    with pytest.raises(ValueError):
        plots.make_grid(np.zeros((2, 3, 28, 28)))


def test_save_grid_writes_the_grid_as_png(tmp_path):
    images = np.random.default_rng(1).uniform(0, 1, size=(20, 28, 28))
    grid = plots.save_grid(images, tmp_path / "sub" / "samples.png", nrow=10, scale=2)
    assert grid.shape == (2 * (2 * 30 + 2), 2 * (10 * 30 + 2))
    png = read_png(tmp_path / "sub" / "samples.png")
    assert png.shape[:2] == grid.shape
    np.testing.assert_allclose(png[..., 0], np.round(grid * 255) / 255, atol=1e-6)  # 8-bit gray
    np.testing.assert_array_equal(png[..., 0], png[..., 1])


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(plots.smooth([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(plots.smooth([4, 0, 2], 1), [4, 0, 2])
    np.testing.assert_allclose(plots.smooth([3, 6, 9], 10), [3, 4.5, 6])


def test_loss_curves_draw_every_loss_key_present(tmp_path):
    rows = [{"iteration": i, "d_loss": 1 / (i + 1), "g_loss": 0.5 + i % 3, "lr": 2e-4} for i in range(100)]
    rows += [{"iteration": 100, "d_loss_real": 0.3, "fid": 20.0}]  # keys that appear late
    drawn = plots.save_loss_curves(rows, tmp_path / "loss.png")
    assert drawn == ["d_loss", "g_loss", "d_loss_real"]
    png = read_png(tmp_path / "loss.png")
    assert png.ndim == 3 and png.shape[0] > 100 and png.std() > 0.01  # something was drawn


def test_curves_skip_missing_and_non_numeric_values(tmp_path):
    rows = [{"step": 0, "d_acc": 0.5}, {"step": 1}, {"step": 2, "d_acc": float("nan")},
            {"step": 3, "d_acc": 0.75, "note": "x"}]
    x, y = plots._series(rows, "d_acc", "step")
    assert x.tolist() == [0, 3] and y.tolist() == [0.5, 0.75]
    assert plots.save_accuracy_curve(rows, tmp_path / "acc.png") == ["d_acc"]
    with pytest.raises(ValueError, match="numeric value"):
        plots.save_loss_curves(rows, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_importing_gan_loads_no_matplotlib():
    code = ("import sys, gan, gan.data, gan.evaluation.metrics, gan.plots, gan.models, gan.training.cli; "
            "assert not [m for m in sys.modules if m.startswith('matplotlib')], 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
