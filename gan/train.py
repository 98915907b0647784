"""Train a model from the installed package, without a checkout's examples/:

    python -m gan.train dcgan --backend cupy       # = python examples/dcgan.py --backend cupy
    python -m gan.train sgan --model improved      # every example's flags, as they are
    python -m gan.train dcgan --help

The first argument names the model (gan, dcgan, sgan, wgan_gp, cgan); the rest are the
flags of examples/<model>.py, with the same exit codes (gan/cli.py).
"""
import sys

from . import cli, recipes


def usage():
    lines = ["usage: python -m gan.train MODEL [flags]   (python -m gan.train MODEL --help lists them)",
             "", "models:"]
    lines += [f"  {name:8} {recipes.get_recipe(name).summary}" for name in recipes.commands()]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    model, flags = argv[0], argv[1:]
    if model not in recipes.commands():
        print(f"{usage()}\n\nerror: unknown model {model!r}; choose one of {', '.join(recipes.commands())}",
              file=sys.stderr)
        return 2
    return cli.main(model, flags, prog=f"python -m gan.train {model}")


if __name__ == "__main__":
    sys.exit(main())
