"""Pictures of a run: sample grids and training curves, written as PNG files.

matplotlib is imported inside the functions that draw, never at `import gan`, and only
its Agg canvas is used (no pyplot), so a training job needs no display and a notebook's
backend is left alone.
"""
from pathlib import Path

import numpy as np

X_KEYS = ("iteration", "step", "iter")  # what a metrics row may call its x-axis


def make_grid(images, nrow=10, padding=2, value_range=(0.0, 1.0), pad_value=0.5):
    """Tile images (n, H, W) or (n, 1, H, W) into one (rows*(H+p)+p, nrow*(W+p)+p) array in
    [0, 1], `nrow` images per row; values are mapped from `value_range` and clipped."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected images (n, H, W) or (n, 1, H, W), got {np.shape(images)}")
    low, high = value_range
    images = np.clip((images - low) / (high - low), 0, 1)
    n, h, w = images.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value,
                   dtype=np.float32)
    for k, image in enumerate(images):
        top = padding + (k // ncol) * (h + padding)
        left = padding + (k % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid


def save_grid(images, path, nrow=10, padding=2, value_range=(0.0, 1.0), scale=1):
    """Write images (n, H, W) or (n, 1, H, W) in `value_range` (default [0, 1]; pass
    (-1, 1) for tanh outputs) as one gray PNG, `nrow` per row, each pixel drawn
    scale x scale. Returns the grid array that was written."""
    from matplotlib.image import imsave

    grid = make_grid(images, nrow, padding, value_range)
    if scale > 1:
        grid = np.kron(grid, np.ones((scale, scale), dtype=grid.dtype))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 8-bit RGB written directly: a colormap would requantize and shift gray levels.
    gray = np.round(grid * 255).astype(np.uint8)
    imsave(path, np.repeat(gray[:, :, None], 3, axis=2))
    return grid


def smooth(values, window):
    """Trailing moving average: out[i] = mean(values[max(0, i-window+1) : i+1])."""
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _series(rows, key, x_key):
    """(x, y) of the rows that carry a finite number under `key`."""
    xs, ys = [], []
    for i, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value):
            xs.append(row.get(x_key, i) if x_key else i)
            ys.append(float(value))
    return np.array(xs, dtype=np.float64), np.array(ys)


def save_metric_curves(rows, path, keys, x_key=None, window=None, ylabel="", title=None, ylim=None):
    """Plot each of `keys` from a list of dicts (one per logged iteration) against `x_key`
    (default: the first of iteration/step/iter present, else the row index): a faint raw
    line and a moving average of `window` points (default len/50) over it.
    Returns the keys drawn (those with at least one value)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if x_key is None:
        x_key = next((k for k in X_KEYS if any(k in row for row in rows)), None)
    figure = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = []
    for key in keys:
        x, y = _series(rows, key, x_key)
        if len(y) == 0:
            continue
        w = window or max(1, len(y) // 50)
        (line,) = axes.plot(x, y, alpha=0.25, linewidth=0.8)
        axes.plot(x, smooth(y, w), color=line.get_color(), linewidth=1.6,
                  label=key if w == 1 else f"{key} (mean of {w})")
        drawn.append(key)
    if not drawn:
        raise ValueError(f"none of {list(keys)} has a numeric value in the {len(rows)} rows")
    axes.set_xlabel(x_key or "row")
    axes.set_ylabel(ylabel)
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.set_title(title or ", ".join(drawn))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return drawn


def _keys_containing(rows, word):
    keys = []
    for row in rows:
        keys += [k for k in row if word in k and k not in keys]
    return keys


def save_loss_curves(metrics_rows, path, keys=None, x_key=None, window=None, title="losses"):
    """Plot d_loss, g_loss and every other key with "loss" in its name (or `keys`)."""
    keys = keys or _keys_containing(metrics_rows, "loss")
    return save_metric_curves(metrics_rows, path, keys, x_key, window, ylabel="loss", title=title)


def save_accuracy_curve(metrics_rows, path, keys=None, x_key=None, window=None, title="accuracy"):
    """Plot every key with "acc" in its name (or `keys`), on a 0..1 axis when all values fit."""
    keys = keys or _keys_containing(metrics_rows, "acc")
    values = np.concatenate([_series(metrics_rows, key, None)[1] for key in keys] or [[]])
    fits = values.size and values.min() >= 0 and values.max() <= 1
    return save_metric_curves(metrics_rows, path, keys, x_key, window, ylabel="accuracy",
                              title=title, ylim=(0, 1.02) if fits else None)
