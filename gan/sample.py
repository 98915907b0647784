"""python -m gan.sample: draw images from a trained generator (gan/evaluation/sample.py)."""
import sys

from .evaluation.sample import main

if __name__ == "__main__":
    sys.exit(main())
