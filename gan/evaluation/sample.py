"""Draw images from a trained generator.

    python -m gan.sample --checkpoint runs/dcgan --n 10000 --out samples.npz

--checkpoint takes a run folder (its latest.npz, or its generator.npz), a training
checkpoint, or a weights-only generator file (generator.npz, written beside every
checkpoint, or made from one by `python -m gan.export`). Writes `images`, float32
(n, 28, 28) in [0, 1], to the .npz, and a grid of the first 100 next to it (samples.png).
The generator runs in eval mode (BatchNorm's running statistics); when the run kept a moving
average of G's weights (--ema), samples come from that average unless --raw asks for G
itself (which generator.npz does not hold: --raw reads latest.npz).

A conditional model (examples/cgan.py) draws the digits it is asked for:

    python -m gan.sample --checkpoint runs/cgan --n 1000 --label 7     # 1000 sevens
    python -m gan.sample --checkpoint runs/cgan --n 1000 --label all   # 1000 of each

and the .npz also holds the requested `labels` (n,) int64, which gan.evaluate checks the
judge reads back. Without --label it draws the classes in turn, 0, 1, ..., 9, 0, ...
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

import minigrad

from .. import flags, models, plots
from ..models.blocks import NUM_CLASSES
from ..training import checkpoint, run_folder
from ..training.config import option_defaults, options_fields
from ..training.recipe import generate, host_latent, is_conditional

BYTES_PER_IMAGE = 28 * 28 * 4  # float32


def load_generator(path, raw=False):
    """The generator of a run folder, training checkpoint or weights-only file (the moving
    average of G's weights if the run kept one and not `raw`), in eval mode, and its meta
    (with "averaged": whether the weights are that average)."""
    path = run_folder.model_file(path)
    arrays, meta = checkpoint.read_generator_source(path)
    weights_only = meta["format"] == checkpoint.GENERATOR_FORMAT
    if raw and weights_only and meta.get("averaged"):
        raise checkpoint.CheckpointError(f"{path} holds the moving average of G only; for G itself "
                                         f"(--raw) read the training checkpoint, {run_folder.LATEST}")
    try:
        recipe = models.get_recipe(meta["kind"])
        saved = {**option_defaults(recipe.options), **meta["config"]}
        options = recipe.options(**{f.name: saved[f.name] for f in
                                    options_fields(recipe.options)}) if recipe.options else None
        generator, _ = recipe.networks(options)
    except (ValueError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{path}: cannot rebuild its model ({type(e).__name__}: {e})") from None
    averaged = meta.get("averaged") if weights_only else not raw and any(k.startswith("G_average/") for k in arrays)
    try:
        generator.load_state_dict(checkpoint.module_state(arrays, "G" if weights_only or not averaged else "G_average"))
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: the generator does not fit: {e}") from e
    return generator.eval(), {**meta, "averaged": bool(averaged)}


def draw(generator, latent_dim, n, seed=0, batch_size=500, labels=None, latent="normal"):
    """n images (n, 28, 28) float32 in [0, 1] from latent vectors drawn with `seed` from
    the `latent` distribution ("normal" or "uniform", the recipe's) and, for a conditional
    generator, of the classes `labels` (n,)."""
    rng = np.random.default_rng(seed)
    images = [generate(generator, host_latent(rng, (min(batch_size, n - start), latent_dim), latent),
                       None if labels is None else labels[start:start + batch_size])
              for start in range(0, n, batch_size)]
    return np.concatenate(images)


def draw_samples(generator, meta, n, seed=0, labels=None):
    """`draw` with what the checkpoint's `meta` says of its latent vectors."""
    return draw(generator, meta["config"]["latent_dim"], n, seed, labels=labels,
                latent=models.get_recipe(meta["kind"]).latent)


def label_choice(text):
    """--label: a digit 0-9, or "all"."""
    if text == "all":
        return text
    if not (text.isdigit() and int(text) < NUM_CLASSES):
        raise argparse.ArgumentTypeError(f"must be a digit 0-{NUM_CLASSES - 1} or all, got {text!r}")
    return int(text)


def requested_labels(label, n, num_classes=NUM_CLASSES):
    """The labels (int64) to draw: n of `label`; n of each class for "all"; for None, n
    labels cycling through the classes. "all" and None cycle 0, 1, ..., 9, 0, ... so that
    any 10·k consecutive samples hold k of each class."""
    if label is None or label == "all":
        return np.arange(n * (num_classes if label == "all" else 1), dtype=np.int64) % num_classes
    return np.full(n, label, dtype=np.int64)


def grid_of(images, labels, num_classes=NUM_CLASSES):
    """(images, per_row) of the .png: the first 100, 10 a row; for cycling labels, one row
    per class (up to 10 of each)."""
    per_class = min(10, len(images) // num_classes)
    if labels is None or len(np.unique(labels)) == 1 or per_class == 0:
        return images[:100], 10
    order = np.arange(per_class * num_classes).reshape(per_class, num_classes).T.ravel()  # class-major
    return images[order], per_class


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
                                     formatter_class=flags.HelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="a run folder, its latest.npz, or a weights-only generator.npz")
    parser.add_argument("--n", type=flags.positive_int, default=10_000, help="how many images")
    parser.add_argument("--out", default="samples.npz", help="the .npz to write (and a .png grid beside it)")
    parser.add_argument("--seed", type=flags.non_negative_int, default=0, help="seeds the latent vectors")
    parser.add_argument("--raw", action="store_true",
                        help="sample G itself, not the moving average of its weights the run kept")
    parser.add_argument("--label", type=label_choice, default=None,
                        help="a conditional model's digit to draw (0-9), or all: --n of each; "
                             "default: the digits in turn")
    flags.add_common_flags(parser, dataset=False)
    args = parser.parse_args(argv)

    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")  # what numpy.savez would write
    grid = out.with_suffix(".png")
    try:
        source = run_folder.model_file(args.checkpoint)
        if source.exists() and any(p.exists() and p.resolve() == source.resolve() for p in (out, grid)):
            raise checkpoint.CheckpointError(f"--out {args.out} would overwrite the checkpoint it reads; "
                                             "choose another --out")
        if out.is_dir():
            raise checkpoint.CheckpointError(f"--out {out} is a folder; name the .npz file to write")
        minigrad.set_backend(args.backend)
        generator, meta = load_generator(source, args.raw)
        labels = None
        if is_conditional(generator):
            labels = requested_labels(args.label, args.n, generator.num_classes)
        elif args.label is not None:
            print(f"error: --label {args.label}: {source} holds a {meta['kind']} generator, which "
                  f"draws no digit on request; drop --label, or sample a conditional model's "
                  f"checkpoint (examples/cgan.py)", file=sys.stderr)
            return 1
        out.parent.mkdir(parents=True, exist_ok=True)
        n = args.n if labels is None else len(labels)
        check_room(n, out)
        images = draw_samples(generator, meta, n, args.seed, labels)
        np.savez(out, images=images, **({} if labels is None else {"labels": labels}))
        grid_images, per_row = grid_of(images, labels)
        plots.save_grid(grid_images, grid, nrow=per_row, scale=2)
    except (checkpoint.CheckpointError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    what = "" if labels is None else f" (labels {'0-9' if args.label in (None, 'all') else args.label})"
    print(f"{len(images)} samples of {meta['kind']}{what} (iteration {meta['iteration']}) written to {out}; "
          f"grid {grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
