"""Train the vanilla (MLP) GAN of the PyTorch tutorials on MNIST.

    python examples/gan.py --backend cupy              # on an NVIDIA GPU
    python examples/gan.py --dry-run --out /tmp/gan    # a 2-iteration smoke test

Writes sample grids, losses.png, metrics.jsonl and latest.npz to --out (runs/gan);
`--resume` continues from latest.npz. See `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan import cli  # noqa: E402

# Adam(2e-4, beta1 0.5) as in the DCGAN paper; 90,000 batches of 128 is 192 epochs: the
# Inception score still rises past 60,000 (docs/results.md).
DEFAULTS = dict(iterations=90_000, batch_size=128, lr=2e-4, beta1=0.5,
                log_every=100, sample_every=1000, checkpoint_every=1000)


def main(argv=None):
    return cli.main("gan", __doc__.splitlines()[0], DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
