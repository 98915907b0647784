"""Flag types and flags that several commands share: the training commands, gan.judge,
gan.sample, gan.evaluate and gan.export. Each type refuses a bad value with argparse's
usage message (exit 2) saying what it must be."""
import argparse
import math

from minigrad.backend import BACKENDS

from . import data

DEFAULT_BACKEND, DEFAULT_DATASET = "numpy", "mnist"  # what every command runs on unless told

def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text):
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def fraction_below_one(text):
    """A number in [0, 1): Adam's β₁, a moving average's decay."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def probability(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except None: those flags say in words what they default to."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_common_flags(parser, backend=True, dataset=True):
    """--backend, --dataset and --data-dir, with their choices from the registries."""
    if backend:
        parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                            help="numpy (CPU) or cupy (NVIDIA GPU); strict is the test suite's")
    if dataset:
        parser.add_argument("--dataset", default=DEFAULT_DATASET, choices=tuple(data.DATASETS))
        parser.add_argument("--data-dir", default=None,
                            help="folder of the dataset's IDX files (default: $MINIGRAD_DATA, then the user cache)")
