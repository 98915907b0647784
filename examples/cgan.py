"""Train a conditional GAN on MNIST: ask it for a digit, it draws that digit.

    python examples/cgan.py --backend cupy                   # on an NVIDIA GPU
    python examples/cgan.py --discriminator acgan            # AC-GAN instead of a projection D
    python examples/cgan.py --dry-run --out /tmp/cgan        # a 2-iteration smoke test

Writes sample grids (one row per digit 0-9, one column per fixed noise vector),
losses.png, metrics.jsonl and latest.npz to --out (runs/cgan); `--resume` continues from
latest.npz. Then `python -m gan.sample --checkpoint runs/cgan/latest.npz --label 7`
draws sevens. See docs/conditional.md, and `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli  # noqa: E402


def main(argv=None):
    return cli.main(COMMANDS["cgan"], argv)


if __name__ == "__main__":
    sys.exit(main())
