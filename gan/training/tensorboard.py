"""--tensorboard: a run's logged numbers and sample grids also written as TensorBoard events
to OUT/tensorboard, through tensorboardX (the optional extra `tensorboard`). Watch them with

    tensorboard --logdir runs/dcgan/tensorboard
"""
from .config import ConfigError

FOLDER = "tensorboard"
INSTALL = 'pip install -e ".[tensorboard]"'


def open_writer(out):
    """A tensorboardX SummaryWriter on OUT/tensorboard, or a ConfigError naming the extra."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ConfigError(f"--tensorboard needs tensorboardX, which is not installed: {INSTALL} "
                          "(or pip install tensorboardX)") from None
    return SummaryWriter(str(out / FOLDER))


def add_row(writer, row):
    """Every number of a metrics.jsonl row, as a scalar at its iteration."""
    for key, value in row.items():
        if key != "iteration":
            writer.add_scalar(key, value, row["iteration"])
    writer.flush()


def add_grid(writer, grid, iteration):
    """A sample grid (H, W) in [0, 1], as the image "samples" at `iteration`."""
    writer.add_image("samples", grid[None], iteration, dataformats="CHW")
