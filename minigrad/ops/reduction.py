"""Reductions over axes: sum, mean, max, logsumexp, and softmax / log_softmax.

In backward, gy has the reduced shape; `expand` puts the reduced axes back (size 1) so
that gy broadcasts against x again. backward_graph is the same formula on tensors; a
saved softmax is written as a function of x or of the output y there, so that it is
differentiated too.
"""
from ..backend import get_array_module
from ..tensor import Function


class AxisError(ValueError, IndexError):
    """An axis the tensor does not have, or one named twice (NumPy's AxisError is both too)."""


def normalize_axis(axis, shape, op_name):
    """One axis in [-ndim, ndim) as its non-negative index; an AxisError otherwise
    (a plain `axis % ndim` would silently reduce some other axis)."""
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise AxisError(f"{op_name}: axis {axis} is out of range for a tensor of {ndim} "
                        f"dimensions (shape {tuple(shape)}); use an axis in [{-ndim}, {ndim})")
    return axis % ndim


def normalize_axes(axis, shape, op_name):
    """`axis` (None, an int or a tuple, negatives allowed) as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(len(shape)))
    axes = [normalize_axis(a, shape, op_name) for a in ((axis,) if isinstance(axis, int) else axis)]
    if len(set(axes)) != len(axes):
        raise AxisError(f"{op_name}: axis {axis} names an axis twice (shape {tuple(shape)})")
    return tuple(sorted(axes))


def expand(gy, axes, keepdims):
    """gy with the reduced `axes` restored as size-1 axes (a no-op if keepdims); gy may be
    an array or a Tensor."""
    if keepdims:
        return gy
    shape = list(gy.shape)
    for a in axes:
        shape.insert(a, 1)
    return gy.reshape(shape)


class Sum(Function):
    """y = Σ_axes x;   gx = gy broadcast back to x's shape"""

    def forward(self, x):
        self.x_shape, self.axes = x.shape, normalize_axes(self.axis, x.shape, "sum")
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.broadcast_to(expand(gy, self.axes, self.keepdims), self.x_shape)

    def backward_graph(self, gy, x, y):
        return expand(gy, self.axes, self.keepdims).broadcast_to(x.shape)


class Mean(Function):
    """y = Σ_axes x / n;   gx = gy / n broadcast back to x's shape"""

    def forward(self, x):
        self.x_shape, self.axes = x.shape, normalize_axes(self.axis, x.shape, "mean")
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        n = 1
        for a in self.axes:
            n *= self.x_shape[a]
        return xp.broadcast_to(expand(gy / n, self.axes, self.keepdims), self.x_shape)

    def backward_graph(self, gy, x, y):
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        return expand(gy / n, self.axes, self.keepdims).broadcast_to(x.shape)


class Max(Function):
    """y = max_axes x;   gx = gy at the maxima (shared equally between ties), 0 elsewhere"""

    def forward(self, x):
        self.axes = normalize_axes(self.axis, x.shape, "max")
        y = x.max(axis=self.axes, keepdims=True)
        self.is_max = x == y
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        ties = self.is_max.sum(axis=self.axes, keepdims=True)
        return self.is_max * (expand(gy, self.axes, self.keepdims) / ties)

    def backward_graph(self, gy, x, y):
        share = self.is_max / self.is_max.sum(axis=self.axes, keepdims=True)  # constant a.e.
        return expand(gy, self.axes, self.keepdims) * share


class LogSumExp(Function):
    """y = ln Σ_axes eˣ = m + ln Σ e^(x - m) with m = max x (no overflow);
    gx = gy * e^(x - y) = gy * softmax(x)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.axes = normalize_axes(self.axis, x.shape, "logsumexp")
        m = x.max(axis=self.axes, keepdims=True)
        e = xp.exp(x - m)
        total = e.sum(axis=self.axes, keepdims=True)
        self.softmax = e / total
        y = m + xp.log(total)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        return self.softmax * expand(gy, self.axes, self.keepdims)

    def backward_graph(self, gy, x, y):
        softmax = (x - expand(y, self.axes, self.keepdims)).exp()  # e^(x - y), a function of x
        return softmax * expand(gy, self.axes, self.keepdims)


class Softmax(Function):
    """y = eˣ / Σ_axis eˣ;   gx = y * (gy - Σ_axis gy·y)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.axes = normalize_axes(self.axis, x.shape, "softmax")
        e = xp.exp(x - x.max(axis=self.axes, keepdims=True))
        self.y = e / e.sum(axis=self.axes, keepdims=True)
        return self.y

    def backward(self, gy):
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axes, keepdims=True))

    def backward_graph(self, gy, x, y):
        return y * (gy - (gy * y).sum(axis=self.axes, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp_axis(x);   gx = gy - softmax(x) * Σ_axis gy"""

    def forward(self, x):
        xp = get_array_module(x)
        self.axes = normalize_axes(self.axis, x.shape, "log_softmax")
        shifted = x - x.max(axis=self.axes, keepdims=True)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axes, keepdims=True))
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axes, keepdims=True)

    def backward_graph(self, gy, x, y):
        return gy - y.exp() * gy.sum(axis=self.axes, keepdims=True)
