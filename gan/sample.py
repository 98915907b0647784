"""Draw images from a trained generator.

    python -m gan.sample --checkpoint runs/dcgan/latest.npz --n 10000 --out samples.npz

Writes `images`, float32 (n, 28, 28) in [0, 1], to the .npz, and a grid of the first 100
next to it (samples.png). The generator runs in eval mode (BatchNorm's running statistics);
when the run kept a moving average of G's weights (--ema), samples come from that average
unless --raw asks for G itself.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

import minigrad

from . import checkpoint, cli, models, recipes
from .config import options_fields

BYTES_PER_IMAGE = 28 * 28 * 4  # float32


def load_generator(path, raw=False):
    """The generator of a training checkpoint (its moving average if it has one and not
    `raw`), in eval mode, and the checkpoint's meta."""
    arrays, meta = checkpoint.read_training(path)
    try:
        recipe = recipes.get_recipe(meta["kind"])
        options = recipe.options(**{f.name: meta["config"][f.name] for f in
                                    options_fields(recipe.options)}) if recipe.options else None
        generator, _ = recipe.networks(options)
    except (ValueError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{path}: cannot rebuild its model ({type(e).__name__}: {e})") from None
    name = "G" if raw or not any(k.startswith("G_average/") for k in arrays) else "G_average"
    try:
        generator.load_state_dict(checkpoint.module_state(arrays, name))
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: the generator does not fit: {e}") from e
    return generator.eval(), meta


def draw(generator, latent_dim, n, seed=0, batch_size=500, latent="normal"):
    """n images (n, 28, 28) float32 in [0, 1] from latent vectors drawn with `seed` from
    the `latent` distribution ("normal" or "uniform", the recipe's)."""
    rng = np.random.default_rng(seed)
    images = [models.generate(generator, models.host_latent(rng, (min(batch_size, n - start), latent_dim),
                                                            latent))
              for start in range(0, n, batch_size)]
    return np.concatenate(images)


def check_room(n, out):
    """Refuse, before drawing, a sample count whose images do not fit in memory or on disk."""
    needed = n * BYTES_PER_IMAGE
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every system tells
        available = None
    if available is not None and needed > available:
        raise checkpoint.CheckpointError(
            f"--n {n} needs {needed / 2**30:.1f} GiB of memory for the images, more than the "
            f"{available / 2**30:.1f} GiB free; draw fewer (or in several runs with other --seed)")
    free = shutil.disk_usage(out.parent).free
    if needed > free:
        raise checkpoint.CheckpointError(
            f"--n {n} needs {needed / 2**30:.1f} GiB on disk for {out}, more than the "
            f"{free / 2**30:.1f} GiB free there; draw fewer or write elsewhere")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw images from a trained generator.",
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (latest.npz)")
    parser.add_argument("--n", type=cli.positive_int, default=10_000, help="how many images")
    parser.add_argument("--out", default="samples.npz", help="the .npz to write (and a .png grid beside it)")
    parser.add_argument("--seed", type=cli.non_negative_int, default=0, help="seeds the latent vectors")
    parser.add_argument("--raw", action="store_true",
                        help="sample G itself, not the moving average of its weights the run kept")
    cli.add_common_flags(parser, dataset=False)
    args = parser.parse_args(argv)

    out, source = Path(args.out), Path(args.checkpoint)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")  # what numpy.savez would write
    grid = out.with_suffix(".png")
    try:
        if source.exists() and any(p.exists() and p.resolve() == source.resolve() for p in (out, grid)):
            raise checkpoint.CheckpointError(f"--out {args.out} would overwrite the checkpoint it reads; "
                                             "choose another --out")
        if out.is_dir():
            raise checkpoint.CheckpointError(f"--out {out} is a folder; name the .npz file to write")
        minigrad.set_backend(args.backend)
        generator, meta = load_generator(source, args.raw)
        out.parent.mkdir(parents=True, exist_ok=True)
        check_room(args.n, out)
        images = draw(generator, meta["config"]["latent_dim"], args.n, args.seed,
                      latent=recipes.get_recipe(meta["kind"]).latent)
        np.savez(out, images=images)
        from . import plots
        plots.save_grid(images[:100], grid, nrow=10, scale=2)
    except (checkpoint.CheckpointError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(images)} samples of {meta['kind']} (iteration {meta['iteration']}) written to {out}; grid {grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
