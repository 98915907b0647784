"""The command line shared by examples/gan.py, examples/dcgan.py and examples/sgan.py.

Each example names its model and its defaults (those that train a good model) and calls
`main(kind, description, defaults, argv)`; the flags, the checks and the exit codes are
here, once:

    0    trained to the end
    1    stopped by an error: the message says what to do (missing data, a checkpoint that
         does not fit, a loss that became NaN)
    130  interrupted with Ctrl-C, after writing a checkpoint to resume from
"""
import argparse
import sys

DRY_RUN_IMAGES = 256  # the slice of the data a --dry-run trains on


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except None: those flags say in words what they default to."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser(kind, description, defaults):
    """The parser of a training command line; `defaults` sets iterations, batch_size, lr,
    beta1 and the logging intervals of this model."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "strict"),
                        help="numpy (CPU) or cupy (NVIDIA GPU); strict is the test suite's")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--iterations", type=positive_int, default=None,
                        help=f"training iterations in all (default {defaults['iterations']})")
    length.add_argument("--epochs", type=positive_float, default=None,
                        help="training length in passes over the training images, instead of --iterations")
    parser.add_argument("--batch-size", type=positive_int, default=defaults["batch_size"])
    parser.add_argument("--lr", type=positive_float, default=defaults["lr"], help="Adam's learning rate")
    parser.add_argument("--beta1", type=float, default=defaults["beta1"], help="Adam's beta1")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the weights, the noise, the batch order and the labelled subset")
    parser.add_argument("--out", default=f"runs/{kind}",
                        help="folder for sample grids, loss curves, metrics.jsonl and latest.npz")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the dataset's IDX files (default: $MINIGRAD_DATA, then the user cache)")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train (and test) on the first N images only, for quick experiments")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                        help="continue from a checkpoint (without PATH: OUT/latest.npz)")
    parser.add_argument("--log-every", type=positive_int, default=defaults.get("log_every", 100),
                        help="iterations between rows of metrics.jsonl")
    parser.add_argument("--sample-every", type=positive_int, default=defaults.get("sample_every", 1000),
                        help="iterations between fixed-noise sample grids")
    parser.add_argument("--checkpoint-every", type=positive_int, default=defaults.get("checkpoint_every", 1000),
                        help="iterations between checkpoints (one is also written at the end and on Ctrl-C)")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"a smoke test: 2 iterations on {DRY_RUN_IMAGES} images, every output written")
    if kind == "sgan":
        parser.add_argument("--num-labeled", type=positive_int, default=100,
                            help="training images whose labels the discriminator sees")
        parser.add_argument("--first-labeled", action="store_true",
                            help="label the first N images, as the book does, instead of N/10 per class chosen by --seed")
        parser.add_argument("--supervised-only", action="store_true",
                            help="train the same discriminator on the labelled images alone (the baseline)")
        parser.add_argument("--eval-every", type=positive_int, default=defaults.get("eval_every", 500),
                            help="iterations between test-set accuracy measurements")
    return parser


def parse_args(kind, description, defaults, argv=None):
    args = build_parser(kind, description, defaults).parse_args(argv)
    if args.iterations is None and args.epochs is None:
        args.iterations = defaults["iterations"]
    if args.dry_run:
        args.iterations, args.epochs = 2, None
        args.limit = min(args.limit or DRY_RUN_IMAGES, DRY_RUN_IMAGES)
        args.log_every = args.sample_every = args.checkpoint_every = 1
        if kind == "sgan":
            args.eval_every = 1
    return args


def main(kind, description, defaults, argv=None):
    """Parse `argv` (default sys.argv[1:]), train, and return the exit code."""
    from . import trainers
    from .checkpoint import CheckpointError
    from .data import DataError

    args = parse_args(kind, description, defaults, argv)
    try:
        outcome = trainers.train(kind, args)
    except (CheckpointError, DataError, trainers.TrainingDiverged) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: out at once, mid-iteration
        print("stopped at once; the last checkpoint in --out is left as it was", file=sys.stderr)
        return 130
    return 130 if outcome == "interrupted" else 0
