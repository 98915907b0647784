"""Draw images from a trained generator.

    python -m gan.sample --checkpoint runs/dcgan/latest.npz --n 10000 --out samples.npz

Writes `images`, float32 (n, 28, 28) in [0, 1], to the .npz, and a grid of the first 100
next to it (samples.png). The generator runs in eval mode (BatchNorm's running statistics).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import minigrad

from . import checkpoint, cli, models
from .trainers import generate


def load_generator(path):
    """The generator of a training checkpoint, in eval mode, and the checkpoint's meta."""
    arrays, meta = checkpoint.read_training(path)
    generator, _ = models.build_models(meta["kind"], meta["config"]["latent_dim"])
    try:
        generator.load_state_dict(checkpoint.module_state(arrays, "G"))
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: the generator does not fit: {e}") from e
    return generator.eval(), meta


def draw(generator, latent_dim, n, seed=0, batch_size=500):
    """n images (n, 28, 28) float32 in [0, 1] from latent vectors drawn with `seed`."""
    rng = np.random.default_rng(seed)
    images = [generate(generator, rng.standard_normal((min(batch_size, n - start), latent_dim),
                                                       dtype=np.float32))
              for start in range(0, n, batch_size)]
    return np.concatenate(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw images from a trained generator.",
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (latest.npz)")
    parser.add_argument("--n", type=int, default=10_000, help="how many images")
    parser.add_argument("--out", default="samples.npz")
    parser.add_argument("--seed", type=int, default=0, help="seeds the latent vectors")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "strict"))
    args = parser.parse_args(argv)

    minigrad.set_backend(args.backend)
    try:
        generator, meta = load_generator(args.checkpoint)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    images = draw(generator, meta["config"]["latent_dim"], args.n, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=images)
    from . import plots
    grid = out.with_suffix(".png")
    plots.save_grid(images[:100], grid, nrow=10, scale=2)
    print(f"{len(images)} samples of {meta['kind']} (iteration {meta['iteration']}) written to {out}; grid {grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
