"""Train a Wasserstein GAN with gradient penalty (Gulrajani et al. 2017) on MNIST.

    python examples/wgan_gp.py                               # about 80 minutes of one CPU core
    python examples/wgan_gp.py --backend cupy                # on an NVIDIA GPU
    python examples/wgan_gp.py --dry-run --out /tmp/wgan_gp  # a 2-iteration smoke test

InfoGAN's generator and latent code against a critic with LayerNorm instead of BatchNorm,
one critic step per generator step at a faster rate than G's, the penalty
λ·(‖∇D(x̂)‖₂ − 1)² (a second derivative: see docs/higher-order.md). Writes sample grids,
losses.png, metrics.jsonl and latest.npz to --out (runs/wgan_gp); see `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli  # noqa: E402


def main(argv=None):
    return cli.main(COMMANDS["wgan_gp"], argv)


if __name__ == "__main__":
    sys.exit(main())
