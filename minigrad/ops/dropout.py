"""Inverted dropout: zero each value with probability p, scale the survivors by 1/(1 − p)
so the expected output equals the input and evaluation needs no rescaling."""
from .. import backend
from ..backend import get_array_module
from ..tensor import Function


class Dropout(Function):
    """y = x·mask,   gx = gy·mask,   mask = 1/(1 − p) where u ≥ p else 0,  u ~ U[0, 1)

    The mask is drawn in float32 whatever x's dtype (half the memory of float64) and holds
    the scale already, so forward and backward are one multiplication each.
    """

    def forward(self, x):
        xp = get_array_module(x)
        u = backend.random_uniform(x.shape, xp.float32, backend.backend_of(x))
        if self.p >= 1:
            self.mask = xp.zeros_like(u)
        else:
            self.mask = xp.greater_equal(u, self.p, out=u)  # 1.0 or 0.0, written over u
            self.mask *= 1 / (1 - self.p)
        return x * self.mask  # float32 mask: x's dtype is kept (float32 or float64)

    def backward(self, gy):
        return gy * self.mask
