"""python -m gan.export: write the weights-only generator.npz of a run (gan/evaluation/export.py)."""
import sys

from .evaluation.export import main

if __name__ == "__main__":
    sys.exit(main())
