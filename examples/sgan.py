"""Train the semi-supervised GAN of GANs in Action (ch. 7) on MNIST with 100 labels.

    python examples/sgan.py --backend cupy                    # SGAN, 100 labels
    python examples/sgan.py --backend cupy --supervised-only  # the same D on the 100 alone
    python examples/sgan.py --dry-run --out /tmp/sgan         # a 2-iteration smoke test

The discriminator classifies the 10 digits; it learns from the labelled images and, through
its real-versus-fake head, from all the others. Test accuracy is logged every --eval-every
iterations to metrics.jsonl in --out (runs/sgan). See `--help` for every flag.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout too

from gan import cli  # noqa: E402

# The book's settings: batches of 32, Keras' default Adam (1e-3, beta1 0.9), 8,000 iterations.
DEFAULTS = dict(iterations=8_000, batch_size=32, lr=1e-3, beta1=0.9,
                log_every=100, sample_every=800, checkpoint_every=800, eval_every=800)


def main(argv=None):
    return cli.main("sgan", __doc__.splitlines()[0], DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
