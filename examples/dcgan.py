"""Train the DCGAN of the Keras tutorial on MNIST (weights N(0, 0.02), Adam(2e-4, 0.5)).

    python examples/dcgan.py --backend cupy              # on an NVIDIA GPU
    python examples/dcgan.py --dry-run --out /tmp/dcgan  # a 2-iteration smoke test

Writes sample grids, losses.png, metrics.jsonl and latest.npz to --out (runs/dcgan);
`--resume` continues from latest.npz. See `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan import cli  # noqa: E402

# Adam(2e-4, beta1 0.5) as in the DCGAN paper; 10,000 batches of 128 is about 21 epochs.
DEFAULTS = dict(iterations=10_000, batch_size=128, lr=2e-4, beta1=0.5,
                log_every=50, sample_every=500, checkpoint_every=500)


def main(argv=None):
    return cli.main("dcgan", __doc__.splitlines()[0], DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
