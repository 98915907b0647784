"""Random inputs for finite-difference checks, shared by test_ops.py and test_higher_order.py.

They stay away from kinks (relu/leaky_relu at 0, clip at its bounds ±0.5, ties of max) so
that x ± eps never crosses one; `positive` is for log/sqrt/pow/div. Each test module makes
its own Inputs(seed), so what it draws does not depend on which other tests run.
"""
import numpy as np


class Inputs:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape):
        return self.rng.standard_normal(shape)

    def positive(self, *shape):
        return self.rng.uniform(0.5, 2.0, shape)

    def away_from_zero(self, *shape):
        return self.rng.choice([-1.0, 1.0], shape) * self.rng.uniform(0.2, 1.5, shape)

    def distinct(self, *shape):
        """Values at least 0.09 apart: max has no ties, and x ± eps changes no argmax."""
        n = int(np.prod(shape))
        return (self.rng.permutation(n) - n / 2).reshape(shape) * 0.1 + self.rng.uniform(0, 0.01, shape)

    def away_from_half(self, *shape):
        """Normal values, none within 0.05 of the clip bounds ±0.5."""
        x = self.normal(*shape)
        x[np.abs(np.abs(x) - 0.5) < 0.05] += 0.1
        return x
