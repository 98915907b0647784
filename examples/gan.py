"""Train the vanilla (MLP) GAN of the PyTorch tutorials on MNIST.

    python examples/gan.py --backend cupy              # on an NVIDIA GPU
    python examples/gan.py --dry-run --out /tmp/gan    # a 2-iteration smoke test

Writes sample grids, losses.png, metrics.jsonl and latest.npz to --out (runs/gan);
`--resume` continues from latest.npz. The defaults are the recipe's (gan/models/gan.py);
see `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli  # noqa: E402


def main(argv=None):
    return cli.main(COMMANDS["gan"], argv)


if __name__ == "__main__":
    sys.exit(main())
