"""python -m gan.judge: train the judge classifier that scores the GANs (gan/evaluation/judge.py)."""
import sys

from .evaluation.judge import main

if __name__ == "__main__":
    sys.exit(main())
