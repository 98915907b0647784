"""Train a model from the installed package, without a checkout's examples/:

    python -m gan.train dcgan --backend cupy       # = python examples/dcgan.py --backend cupy
    python -m gan.train sgan --model improved      # every example's flags, as they are
    python -m gan.train dcgan --help

The first argument names the model (gan, dcgan, sgan, wgan_gp, cgan); the rest are the
flags of examples/<model>.py, with the same exit codes (gan/training/cli.py).
"""
import sys

from .models import COMMANDS
from .training import cli
from .training.recipe import Variants


def summary(command):
    """A command's line of the usage: its recipe's summary, or its first variant's."""
    recipe = next(iter(command.choices.values())) if isinstance(command, Variants) else command
    return recipe.summary


def usage():
    lines = ["usage: python -m gan.train MODEL [flags]   (python -m gan.train MODEL --help lists them)",
             "", "models:"]
    lines += [f"  {name:8} {summary(command)}" for name, command in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    model, flags = argv[0], argv[1:]
    if model not in COMMANDS:
        print(f"{usage()}\n\nerror: unknown model {model!r}; choose one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    return cli.main(COMMANDS[model], flags, prog=f"python -m gan.train {model}")


if __name__ == "__main__":
    sys.exit(main())
