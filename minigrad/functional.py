"""Every op as a function: `minigrad.functional.relu(x)`, usually imported as F.

Arguments may be Tensors or numbers (a number becomes a constant of the tensor's dtype).
"""
from .backend import backend_module, backend_of
from .ops.arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Sub
from .ops.elementwise import (Clip, Exp, LeakyReLU, Log, ReLU, Sigmoid, Softplus, Sqrt,
                              Tanh, Where)
from .ops.reduction import LogSoftmax, LogSumExp, Max, Mean, Softmax, Sum
from .ops.shape import BroadcastTo, Concatenate, GetItem, Reshape, Transpose
from .tensor import Tensor


def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def neg(x): return Neg.apply(x)


def pow(x, exponent):
    """x ** exponent for a constant (number) exponent."""
    if isinstance(exponent, Tensor):
        raise TypeError("pow: the exponent must be a number; for a tensor exponent "
                        "write exp(b * log(a))")
    return Pow.apply(x, exponent=exponent)


def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def tanh(x): return Tanh.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def relu(x): return ReLU.apply(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU.apply(x, slope=negative_slope)
def softplus(x): return Softplus.apply(x)
def clip(x, low, high): return Clip.apply(x, low=low, high=high)


def where(condition, a, b):
    """a where `condition` (a boolean array or tensor) holds, else b."""
    like = a if isinstance(a, Tensor) else b
    return Where.apply(a, b, condition=_index_array(condition, like))


def matmul(a, b):
    """a @ b as in NumPy: 1-D operands are treated as a row (a) or column (b) vector,
    and the axis added for them is dropped from the result (1-D @ 1-D is a scalar)."""
    if a.ndim == 1:
        y = matmul(reshape(a, (1, -1)), b)  # (..., 1, n), or (1,) when b is 1-D too
        return reshape(y, y.shape[:-2] + y.shape[-1:] if b.ndim > 1 else ())
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, (-1, 1))), a.shape[:-1])
    return MatMul.apply(a, b)


def sum(x, axis=None, keepdims=False): return Sum.apply(x, axis=axis, keepdims=keepdims)
def mean(x, axis=None, keepdims=False): return Mean.apply(x, axis=axis, keepdims=keepdims)
def max(x, axis=None, keepdims=False): return Max.apply(x, axis=axis, keepdims=keepdims)
def logsumexp(x, axis=None, keepdims=False): return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
def softmax(x, axis=-1): return Softmax.apply(x, axis=axis)
def log_softmax(x, axis=-1): return LogSoftmax.apply(x, axis=axis)


def reshape(x, shape):
    return Reshape.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def transpose(x, axes=None): return Transpose.apply(x, axes=axes)
def broadcast_to(x, shape): return BroadcastTo.apply(x, shape=tuple(shape))
def flatten(x): return reshape(x, (x.shape[0], -1))


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def getitem(x, index):
    """x[index]: slices, integers, None, Ellipsis, integer or boolean arrays."""
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(_index_array(i, x) if hasattr(i, "shape") or isinstance(i, list) else i
                  for i in items)
    return GetItem.apply(x, index=items if isinstance(index, tuple) else items[0])


def _index_array(a, like):
    """An index or mask as an array on `like`'s backend."""
    if isinstance(a, Tensor):
        a = a.data
    xp = backend_module(backend_of(like.data))
    return xp.asarray(a) if not hasattr(a, "shape") or backend_of(a) != backend_of(like.data) else a


# ----------------------------------------------------------------------------- layers and losses
from .ops.dropout import Dropout  # noqa: E402
from .ops.linear import Linear  # noqa: E402
from .ops.loss import (BinaryCrossEntropy, BinaryCrossEntropyWithLogits,  # noqa: E402
                       CrossEntropy, check_reduction)
from .ops.normalization import BatchNorm  # noqa: E402


def linear(x, weight, bias=None):
    """y = x @ weightᵀ + bias for x (..., in), weight (out, in), bias (out,) or None."""
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Normalize x (N, C) or (N, C, H, W) per channel, then scale by gamma and shift by beta
    (both None for no affine part). In training the batch statistics are used and the
    running statistics (raw (C,) arrays, or None) are updated in place; otherwise the
    running statistics are used."""
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected input (N, C) or (N, C, H, W), got shape {x.shape}")
    gamma_beta = () if gamma is None else (gamma, beta)
    return BatchNorm.apply(x, *gamma_beta, training=training, momentum=momentum, eps=eps,
                           running_mean=running_mean, running_var=running_var)


def dropout(x, p, training=True):
    """Zero each value with probability p and scale the rest by 1/(1 - p); x itself when
    not training or p == 0."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p)


def binary_cross_entropy(probs, targets, reduction="mean"):
    """-t·ln p - (1 - t)·ln(1 - p) for probabilities p (clipped to [1e-7, 1 - 1e-7]).
    Prefer binary_cross_entropy_with_logits: it is exact at any logit."""
    check_reduction(reduction, "binary_cross_entropy")
    return BinaryCrossEntropy.apply(probs, targets=targets, reduction=reduction)


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """binary_cross_entropy(sigmoid(logits), targets), in the softplus form that never
    overflows: max(x, 0) - x·t + ln(1 + e^-|x|)."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    return BinaryCrossEntropyWithLogits.apply(logits, targets=targets, reduction=reduction)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) or one-hot/soft
    targets (N, C); "mean" averages over the N rows."""
    check_reduction(reduction, "cross_entropy")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: expected logits (N, C), got shape {logits.shape}")
    return CrossEntropy.apply(logits, targets=labels, reduction=reduction)
