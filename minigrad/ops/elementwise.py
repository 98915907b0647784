"""Elementwise functions: exp, log, sqrt, tanh, sigmoid, relu, leaky_relu, softplus,
clip and where. Each gradient is the derivative of the function times gy.

backward_graph writes the derivative with ops on tensors: through the output y or the
input x, so that it depends on x in the graph (a mask, such as relu's, is a constant)."""
from .. import kernels
from ..backend import as_array_like, get_array_module
from ..tensor import Function, Tensor
from .arithmetic import unbroadcast


class Exp(Function):
    """y = eˣ;   gx = gy * y"""

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y

    def backward_graph(self, gy, x, y):
        return gy * y


class Log(Function):
    """y = ln x;   gx = gy / x"""

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x

    def backward_graph(self, gy, x, y):
        return gy / x


class Sqrt(Function):
    """y = √x;   gx = gy / (2y)"""

    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)

    def backward_graph(self, gy, x, y):
        return gy / (2 * y)


class Tanh(Function):
    """y = tanh x;   gx = gy * (1 - y²)"""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)

    def backward_graph(self, gy, x, y):
        return gy * (1 - y * y)


def stable_sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ), computed from e^-|x| so no exp overflows."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ);   gx = gy * y * (1 - y)"""

    def forward(self, x):
        self.y = stable_sigmoid(x)
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)

    def backward_graph(self, gy, x, y):
        return gy * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);   gx = gy where x > 0, else 0"""

    def forward(self, x):
        self.positive = x > 0
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        return gy * self.positive

    def backward_graph(self, gy, x, y):
        return gy * self.positive


class LeakyReLU(Function):
    """y = x if x > 0 else slope·x;   gx = gy if x > 0 else slope·gy

    Computed as y = max(x, slope·x) (min for slope > 1) and gx = gy·(slope + (1 − slope)·[x > 0]):
    plain arithmetic streams through memory, while `where` on a data-dependent mask
    branches on every element (10× slower in NumPy). Keeps the mask x > 0, one byte a value.
    """

    def forward(self, x):
        xp = get_array_module(x)
        if kernels.fused(x):  # one launch on the GPU, not three
            self.positive, y = xp.empty_like(x, dtype=bool), xp.empty_like(x)  # x's memory layout
            LEAKY_RELU(x, self.slope, self.positive, y)
            return y
        self.positive = x > 0
        y = x * self.slope
        return (xp.maximum if self.slope <= 1 else xp.minimum)(x, y, out=y)

    def backward(self, gy):
        xp = get_array_module(gy)
        if kernels.fused(gy):
            gx = xp.empty_like(gy)
            LEAKY_RELU_GRADIENT(gy, self.positive, self.slope, 1 - self.slope, gx)
            return gx
        gx = xp.multiply(self.positive, 1 - self.slope, dtype=gy.dtype)
        gx += self.slope
        gx *= gy
        return gx

    def backward_graph(self, gy, x, y):
        slope = get_array_module(self.positive).multiply(self.positive, 1 - self.slope, dtype=x.dtype)
        slope += self.slope
        return gy * slope


# LeakyReLU on the GPU (minigrad/kernels.py): the same values as the NumPy passes above
LEAKY_RELU = kernels.Kernel("T x, T slope", "bool positive, T y",
                            "positive = x > 0;\n    y = positive ? x : x * slope;", "minigrad_leaky_relu")
LEAKY_RELU_GRADIENT = kernels.Kernel(
    "T gy, bool positive, T slope, T one_minus_slope", "T gx",
    "gx = ((T)positive * one_minus_slope + slope) * gy;", "minigrad_leaky_relu_gradient")


class Softplus(Function):
    """y = ln(1 + eˣ) = max(x, 0) + ln(1 + e^-|x|)   (stable for any x);   gx = gy * σ(x)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        return gy * stable_sigmoid(self.x)

    def backward_graph(self, gy, x, y):
        return gy * x.sigmoid()


class Clip(Function):
    """y = min(max(x, low), high);   gx = gy where low ≤ x ≤ high, else 0"""

    def forward(self, x):
        self.inside = (x >= self.low) & (x <= self.high)
        return get_array_module(x).clip(x, self.low, self.high)

    def backward(self, gy):
        return gy * self.inside

    def backward_graph(self, gy, x, y):
        return gy * self.inside


class Where(Function):
    """y = a where condition else b;   ga = gy where condition,  gb = gy elsewhere
    (the condition is a boolean array, not differentiated)"""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        xp = get_array_module(gy)
        ga = unbroadcast(xp.where(self.condition, gy, 0), self.a_shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(xp.where(self.condition, 0, gy), self.b_shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_graph(self, gy, a, b, y):
        ga = unbroadcast(gy * self.condition, a.shape) if self.needs_input_grad[0] else None
        not_condition = get_array_module(self.condition).logical_not(self.condition)
        gb = unbroadcast(gy * not_condition, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def where(condition, a, b):
    """a where `condition` (a boolean array or tensor) holds, else b."""
    like = a if isinstance(a, Tensor) else b
    return Where.apply(a, b, condition=as_array_like(condition, like.data))
