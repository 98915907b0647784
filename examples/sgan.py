"""Train a semi-supervised GAN on MNIST with 100 labels: the book's (GANs in Action, ch. 7;
the default, --model book) or Improved-GAN's feature-matching recipe (--model improved).

    python examples/sgan.py --backend cupy                    # SGAN, 100 labels
    python examples/sgan.py --backend cupy --supervised-only  # the same D on the 100 alone
    python examples/sgan.py --backend cupy --model improved   # Improved-GAN, 100 labels
    python examples/sgan.py --dry-run --out /tmp/sgan         # a 2-iteration smoke test

The discriminator classifies the 10 digits; it learns from the labelled images and, through
its real-versus-fake head, from all the others. Test accuracy is logged every --eval-every
iterations to metrics.jsonl in --out (runs/sgan, runs/sgan_improved). See `--help` (and
`--model improved --help`) for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli  # noqa: E402


def main(argv=None):
    return cli.main(COMMANDS["sgan"], argv)


if __name__ == "__main__":
    sys.exit(main())
