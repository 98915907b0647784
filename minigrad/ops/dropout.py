"""Inverted dropout: zero each value with probability p, scale the survivors by 1/(1 − p)
so the expected output equals the input and evaluation needs no rescaling."""
from ..backend import backend_of, get_array_module
from ..random import random_uniform
from ..tensor import Function


def uniform_like(x):
    """U[0, 1) float32 samples of x's shape, laid out in memory as x is: x may be a
    transposed view (a convolution's NCHW view of channels-last memory), and an elementwise
    op between two arrays of different layouts reads one of them with large strides."""
    xp = get_array_module(x)
    order = sorted(range(x.ndim), key=lambda axis: -x.strides[axis])  # slowest axis first
    u = random_uniform(tuple(x.shape[a] for a in order), xp.float32, backend_of(x))
    return u.transpose([order.index(axis) for axis in range(x.ndim)])


class Dropout(Function):
    """y = x·keep·s,   gx = gy·keep·s,   keep = [u ≥ p],  u ~ U[0, 1),  s = 1/(1 − p)

    Keeps the boolean mask `keep` (one byte a value, a quarter of a float32 mask); the
    multiplications by it and by s are two streaming passes that keep x's dtype.
    """

    def forward(self, x):
        self.keep = uniform_like(x) >= self.p
        self.scale = 1 / (1 - self.p) if self.p < 1 else 0.0
        y = x * self.keep
        y *= self.scale
        return y

    def backward(self, gy):
        gx = gy * self.keep
        gx *= self.scale
        return gx

    def backward_graph(self, gy, x, y):
        return gy * self.keep * self.scale


def dropout(x, p, training=True):
    """Zero each value with probability p and scale the rest by 1/(1 - p); x itself when
    not training or p == 0."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p)
