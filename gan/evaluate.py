"""python -m gan.evaluate: score generated images with the judge classifier (gan/evaluation/evaluate.py)."""
import sys

from .evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
