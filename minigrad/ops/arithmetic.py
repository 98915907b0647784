"""Arithmetic: + - * / **, negation and matrix products, with NumPy broadcasting.

When an input was broadcast in forward, its gradient is summed over the broadcast axes in
backward (`unbroadcast`): each input element fed every output it was copied to.

Each `backward_graph` is its `backward` with tensors for the saved arrays: the same
formula, built from ops, so that it can be differentiated again (docs/higher-order.md).
"""
import numpy

from ..backend import get_array_module
from ..blas import matmul as array_matmul
from ..tensor import Function, Tensor


def unbroadcast(g, shape):
    """Sum `g` down to `shape`, undoing NumPy broadcasting (an array or a Tensor)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class Add(Function):
    """y = a + b;   ga = gy,  gb = gy"""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(gy, self.b_shape)

    def backward_graph(self, gy, a, b, y):
        return unbroadcast(gy, a.shape), unbroadcast(gy, b.shape)


class Sub(Function):
    """y = a - b;   ga = gy,  gb = -gy"""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy):
        gb = -unbroadcast(gy, self.b_shape) if self.needs_input_grad[1] else None
        return unbroadcast(gy, self.a_shape), gb

    def backward_graph(self, gy, a, b, y):
        gb = -unbroadcast(gy, b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(gy, a.shape), gb


class Mul(Function):
    """y = a * b;   ga = gy * b,  gb = gy * a"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        a, b = self.a, self.b
        ga = unbroadcast(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_graph(self, gy, a, b, y):
        ga = unbroadcast(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;   ga = gy / b,  gb = -gy * a / b² = -ga * y"""

    def forward(self, a, b):
        self.a_shape, self.b = a.shape, b
        self.y = a / b
        return self.y

    def backward(self, gy):
        ga = gy / self.b
        gb = unbroadcast(-ga * self.y, self.b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(ga, self.a_shape), gb

    def backward_graph(self, gy, a, b, y):
        ga = gy / b
        gb = unbroadcast(-ga * y, b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(ga, a.shape), gb


class Neg(Function):
    """y = -x;   gx = -gy"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy

    def backward_graph(self, gy, x, y):
        return -gy


class Pow(Function):
    """y = x ** p for a constant p;   gx = gy * p * x ** (p - 1)   (0 when p = 0)"""

    def forward(self, x):
        self.x = x
        return x ** self.exponent

    def backward(self, gy):
        p = self.exponent
        if p == 0:  # x ** 0 is constant; p * x ** -1 would give 0 * inf = nan at x = 0
            return get_array_module(gy).zeros_like(gy)
        return gy * (p * self.x ** (p - 1))

    def backward_graph(self, gy, x, y):
        p = self.exponent
        return gy * 0.0 if p == 0 else gy * (p * x ** (p - 1))


class MatMul(Function):
    """y = a @ b over the last two axes, batch axes broadcast;
    ga = gy @ bᵀ,  gb = aᵀ @ gy   (ᵀ swaps the last two axes)"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return array_matmul(a, b)

    def backward(self, gy):
        xp = get_array_module(gy)
        a, b = self.a, self.b
        ga = unbroadcast(array_matmul(gy, xp.swapaxes(b, -1, -2)), a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(array_matmul(xp.swapaxes(a, -1, -2), gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_graph(self, gy, a, b, y):
        ga = unbroadcast(gy @ swap_last_axes(b), a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(swap_last_axes(a) @ gy, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def swap_last_axes(t):
    """A Tensor with its last two axes swapped (ᵀ of a batch of matrices)."""
    axes = list(range(t.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return t.transpose(axes)


def matmul(a, b):
    """a @ b as in NumPy: 1-D operands are treated as a row (a) or column (b) vector,
    and the axis added for them is dropped from the result (1-D @ 1-D is a scalar)."""
    check_matmul_shapes(a.shape, b.shape)
    if a.ndim == 1:
        y = matmul(a.reshape(1, -1), b)  # (..., 1, n), or (1,) when b is 1-D too
        return y.reshape(y.shape[:-2] + y.shape[-1:] if b.ndim > 1 else ())
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).reshape(a.shape[:-1])
    return MatMul.apply(a, b)


def check_matmul_shapes(a_shape, b_shape):
    """A ValueError naming both shapes when a @ b is undefined (NumPy's message names
    neither): a scalar operand, inner dimensions that differ, batch axes that do not broadcast."""
    shapes = f"shapes {tuple(a_shape)} and {tuple(b_shape)}"
    if not a_shape or not b_shape:
        raise ValueError(f"matmul: {shapes}: an operand is a scalar; multiply with * instead")
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        raise ValueError(f"matmul: {shapes} do not chain: a has {a_shape[-1]} columns "
                         f"but b has {inner_b} rows")
    try:
        numpy.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: {shapes}: the batch axes {tuple(a_shape[:-2])} and "
                         f"{tuple(b_shape[:-2])} do not broadcast") from None


def pow(x, exponent):
    """x ** exponent for a constant (number) exponent."""
    if isinstance(exponent, Tensor):
        raise TypeError("pow: the exponent must be a number; for a tensor exponent "
                        "write exp(b * log(a))")
    return Pow.apply(x, exponent=exponent)
