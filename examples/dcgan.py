"""Train a DCGAN on MNIST: InfoGAN's networks and latent code (the default), the networks
alone, or the Keras tutorial's.

    python examples/dcgan.py --backend cupy              # on an NVIDIA GPU
    python examples/dcgan.py --arch infogan              # InfoGAN's networks without the code
    python examples/dcgan.py --arch keras                # the Keras tutorial's networks
    python examples/dcgan.py --dry-run --out /tmp/dcgan  # a 2-iteration smoke test

Writes sample grids, losses.png, metrics.jsonl and latest.npz to --out (runs/dcgan);
`--resume` continues from latest.npz. The defaults are the recipe's (gan/models/dcgan.py);
see `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli  # noqa: E402


def main(argv=None):
    return cli.main(COMMANDS["dcgan"], argv)


if __name__ == "__main__":
    sys.exit(main())
