"""The command line of every training example (examples/*.py call `main(command)` with a
model's Recipe, or the Variants of a command that trains one of several):

A training command's flags are the common ones below, whose defaults come from the model's
recipe, plus the recipe's own (its options dataclass). Exit codes:

    0    trained to the end
    1    stopped by an error: the message, on a line starting with `error:`, says what to
         do (missing data, a folder that holds another run or is being written, a checkpoint
         that does not fit, a loss that became NaN)
    2    a flag with a bad value (argparse's usage message)
    130  interrupted with Ctrl-C or SIGTERM, after writing a checkpoint to resume from
"""
import argparse
import dataclasses
import sys

from minigrad.capture import CaptureError

from .. import data
from ..flags import (HelpFormatter, add_common_flags, fraction_below_one, non_negative_int, positive_float,
                     positive_int)
from . import checkpoint, loop
from .config import DRY_RUN_IMAGES, ConfigError, TrainConfig, check, options_fields, resolved_config
from .recipe import Variants


# ----------------------------------------------------------------------------- training
def choose_recipe(command, argv=None):
    """The recipe a command line trains: `command` itself, or for Variants the one its
    --model names (the first choice by default)."""
    if not isinstance(command, Variants):
        return command
    chooser = argparse.ArgumentParser(add_help=False)
    add_model_flag(chooser, command)
    known, _ = chooser.parse_known_args(argv)
    return command.choices[known.variant]


def add_model_flag(parser, variants):
    described = "; ".join(f"{choice}: {recipe.summary.removeprefix('Train ').rstrip('.')}"
                          for choice, recipe in variants.choices.items())
    parser.add_argument("--model", dest="variant", choices=tuple(variants.choices),
                        default=next(iter(variants.choices)),
                        help=f"which model to train ({described}); `--model CHOICE --help` lists "
                             "its flags")


def build_parser(recipe, variants=None, prog=None):
    """The parser of a training command line, with `recipe`'s defaults and flags (and
    --model, for a command with `variants`). Flags the recipe sets a default for parse to
    None when not given: `parse_config` fills them in, after the recipe's own flags have
    said which defaults apply (--arch keras has its own)."""
    d = {**{f.name: f.default for f in dataclasses.fields(TrainConfig)}, **recipe.defaults}
    parser = argparse.ArgumentParser(prog=prog, description=recipe.summary,
                                     epilog=recipe.defaults_note or None, formatter_class=HelpFormatter)
    if variants is not None:
        add_model_flag(parser, variants)

    def add(group, name, type, help):
        key = name[2:].replace("-", "_")
        default = d[key] if d[key] is not None else "none"
        group.add_argument(name, type=type, default=None, help=f"{help} (default {default})")

    add_common_flags(parser)
    length = parser.add_mutually_exclusive_group()
    add(length, "--iterations", positive_int, "training iterations in all")
    length.add_argument("--epochs", type=positive_float, default=None,
                        help="training length in passes over the training images, instead of --iterations")
    add(parser, "--batch-size", positive_int, "images in a batch")
    add(parser, "--lr", positive_float, "Adam's learning rate (D's, and G's unless --g-lr)")
    add(parser, "--g-lr", positive_float, "G's learning rate; none: the same as --lr")
    add(parser, "--beta1", fraction_below_one, "Adam's beta1 (D's, and G's unless --g-beta1)")
    add(parser, "--g-beta1", fraction_below_one, "G's Adam beta1; none: the same as --beta1")
    add(parser, "--beta2", fraction_below_one, "Adam's beta2")
    add(parser, "--adam-eps", positive_float,
        "Adam's epsilon, added to the root of its second moment (D's, and G's unless --g-adam-eps)")
    add(parser, "--g-adam-eps", positive_float, "G's Adam epsilon; none: the same as --adam-eps")
    add(parser, "--ema", fraction_below_one,
        "decay of a moving average of G's weights that samples are drawn from; 0: sample from G itself")
    add(parser, "--seed", non_negative_int, "seeds the weights, the noise, the batch order and the labelled subset")
    parser.add_argument("--out", default=None, help=f"folder for config.json, sample grids, loss curves, "
                                                    f"metrics.jsonl and latest.npz (default runs/{recipe.name})")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train (and test) on the first N images only, for quick experiments")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                       help="continue from a checkpoint (without PATH: OUT/latest.npz)")
    start.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --out that holds another run (its checkpoint "
                            "is replaced at the first checkpoint)")
    add(parser, "--log-every", positive_int, "iterations between rows of metrics.jsonl")
    add(parser, "--sample-every", positive_int, "iterations between fixed-noise sample grids")
    add(parser, "--checkpoint-every", positive_int,
        "iterations between checkpoints (one is also written at the end and on Ctrl-C or SIGTERM)")
    if recipe.evaluate is not None:
        add(parser, "--eval-every", positive_int, "iterations between test-set measurements")
        add(parser, "--d-ema", fraction_below_one,
            "decay of a moving average of D's weights that the test set is measured with "
            "(test_acc; D's own is then test_acc_raw); 0: test D itself")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"a smoke test: 2 iterations on {DRY_RUN_IMAGES} images, every output written")
    parser.add_argument("--capture", choices=("auto", "on", "off"), default=None,
                        help="take each step as one captured CUDA graph, replayed (docs/capture.md); "
                             f"auto: on CuPy only; on numpy it runs checked by the capture rules, on strict "
                             f"replayed from a tape as from a graph "
                             f"(default {d['capture']})")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write the logged numbers and sample grids to OUT/tensorboard "
                             '(needs the extra: pip install -e ".[tensorboard]")')
    for f in options_fields(recipe.options):
        settings = dict(f.metadata)
        name = "--" + f.name.replace("_", "-")
        if f.type is bool:  # a flag that defaults to on also gets its --no-flag
            action = argparse.BooleanOptionalAction if f.default else "store_true"
            parser.add_argument(name, action=action, default=f.default, **settings)
        else:
            settings.setdefault("type", {int: positive_int, float: positive_float}.get(f.type, str))
            parser.add_argument(name, default=f.default, **settings)
    return parser


def parse_config(recipe, argv=None, variants=None, prog=None):
    """The TrainConfig a command line asks for; argparse's exit 2 for bad values."""
    parser = build_parser(recipe, variants, prog)
    args = vars(parser.parse_args(argv))
    options = None
    if recipe.options is not None:
        options = recipe.options(**{f.name: args.pop(f.name) for f in options_fields(recipe.options)})
    config = resolved_config(recipe, options, **args)
    if config.dry_run:
        config = config.as_dry_run()
    try:
        check(config)
    except ConfigError as e:
        parser.error(str(e))
    return config


def main(command, argv=None, prog=None):
    """Parse `argv` (default sys.argv[1:]), train `command` (a Recipe, or Variants whose
    --model picks the recipe), and return the exit code."""
    recipe = choose_recipe(command, argv)
    config = parse_config(recipe, argv, command if isinstance(command, Variants) else None, prog)
    try:
        outcome = loop.train(recipe, config)
    except (ConfigError, checkpoint.CheckpointError, data.DataError, loop.TrainingDiverged,
            CaptureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a disk that filled up, a folder removed mid-run
        print(f"error: {e}; the last checkpoint in --out is left as it was", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: out at once, mid-iteration
        print("stopped at once; the last checkpoint in --out is left as it was", file=sys.stderr)
        return 130
    return 130 if outcome == "interrupted" else 0
