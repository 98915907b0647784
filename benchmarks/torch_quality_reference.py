"""Train the PyTorch twin of a GAN (benchmarks/torch_reference.py) and write samples that
gan.evaluate scores: a cross-check of quality, not of speed (optional: needs torch).

    python benchmarks/torch_quality_reference.py dcgan --iterations 3000 --out /tmp/torch-dcgan.npz
    python -m gan.evaluate /tmp/torch-dcgan.npz --data-dir ../shared/data/mnist

If PyTorch's build of the same model, with the same losses, optimizer, batch size and
length, scores like ours, a score short of a target belongs to the model and its settings,
not to minigrad's engine. Batches are shuffled MNIST training images in [-1, 1]; samples
are drawn in eval mode, as gan.sample draws ours.
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from gan import data  # noqa: E402
from torch_reference import LATENT, MODELS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("gan", "dcgan"))
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--n", type=int, default=10_000, help="samples to write")
    parser.add_argument("--out", required=True, help=".npz of images (n, 28, 28) in [0, 1]")
    parser.add_argument("--sample-every", type=int, default=None,
                        help="also write OUT's name + _NNNNNN.npz every this many iterations")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images = data.load_dataset("mnist", args.data_dir, download=False).train_images
    images = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]  # (N, 1, 28, 28)
    G, D, step = MODELS[args.model]()
    per_epoch = len(images) // args.batch_size

    started = time.perf_counter()
    for it in range(args.iterations):
        if it % per_epoch == 0:
            order = torch.from_numpy(rng.permutation(len(images)))
        batch = order[(it % per_epoch) * args.batch_size:(it % per_epoch + 1) * args.batch_size]
        numbers = step(images[batch])
        if (it + 1) % 500 == 0:
            losses = " ".join(f"{k} {v:.3f}" for k, v in numbers.items())
            print(f"{it + 1}: {time.perf_counter() - started:.0f} s {losses}", flush=True)
        if args.sample_every and (it + 1) % args.sample_every == 0 and it + 1 < args.iterations:
            out = pathlib.Path(args.out)
            write_samples(G, args.n, out.with_name(f"{out.stem}_{it + 1:06d}.npz"))
    write_samples(G, args.n, args.out)
    print(f"{args.n} samples after {args.iterations} iterations -> {args.out}")


def write_samples(G, n, path):
    """n images of G in eval mode, (n, 28, 28) in [0, 1], from the same noise every time."""
    G.eval()
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((n, LATENT), dtype=np.float32))
    with torch.no_grad():
        samples = torch.cat([G(z[i:i + 500]) for i in range(0, n, 500)])
    G.train()
    np.savez(path, images=(0.5 * samples.reshape(-1, 28, 28) + 0.5).clamp(0, 1).numpy())


if __name__ == "__main__":
    main()
