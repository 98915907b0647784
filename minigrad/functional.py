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
from .ops.normalization import BatchNorm, LayerNorm  # noqa: E402


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


def layer_norm(x, gamma, beta, eps=1e-5):
    """Normalize each sample of x (N, ...) over all its other axes, then scale by gamma and
    shift by beta, both of shape x.shape[1:] (or both None for no affine part)."""
    if x.ndim < 2:
        raise ValueError(f"layer_norm: expected input (N, ...) with at least 2 axes, got shape {x.shape}")
    if (gamma is None) != (beta is None):
        raise ValueError("layer_norm: give both gamma and beta, or neither")
    if gamma is None:
        return LayerNorm.apply(x, eps=eps)
    if gamma.shape != x.shape[1:] or beta.shape != x.shape[1:]:
        raise ValueError(f"layer_norm: gamma and beta must have the per-sample shape {x.shape[1:]} "
                         f"of x {x.shape}; got {gamma.shape} and {beta.shape}")
    return LayerNorm.apply(x, gamma, beta, eps=eps)


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


# ----------------------------------------------------------------------------- convolutions
import builtins  # noqa: E402  (this module defines its own sum and max)

from .ops.conv import Conv2D, ConvTranspose2D, UpSample2D  # noqa: E402


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, KH, KW), plus bias (O,), as
    PyTorch's conv2d. stride: int or (sh, sw). padding: int, (ph, pw), explicit
    (top, bottom, left, right), "valid" (none) or "same" (Keras: out = ceil(in / stride),
    the odd pixel of padding going to the bottom/right)."""
    _check_conv_inputs("conv2d", x, weight, bias, "(out, in, kh, kw)", in_axis=1, out_axis=0)
    stride = _pair(stride, "conv2d", "stride", minimum=1)
    (kh, kw), (h, w) = weight.shape[2:], x.shape[2:]
    pads = _conv_padding(padding, (h, w), (kh, kw), stride)
    top, bottom, left, right = pads
    if h + top + bottom < kh or w + left + right < kw:
        raise ValueError(f"conv2d: kernel {kh}×{kw} is larger than the padded input "
                         f"{h + top + bottom}×{w + left + right} (x {x.shape}, padding {pads})")
    out_pixels = ((h + top + bottom - kh) // stride[0] + 1) * ((w + left + right - kw) // stride[1] + 1)
    if (stride == (1, 1) and builtins.max(pads) < min(kh, kw)
            and h * w * weight.shape[0] < out_pixels * x.shape[1]):
        # With stride 1 a convolution is the transposed convolution of its flipped kernel
        # (docs/layers.md): the same products, but a temporary of N·H·W × O·KH·KW floats
        # instead of N·OH·OW × C·KH·KW. Worth it when O < C (64→1 at 28×28: 5 MB vs 320 MB).
        flipped = weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        crops = (kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right)
        return _apply_conv(ConvTranspose2D, x, flipped, bias, stride=stride, crops=crops)
    return _apply_conv(Conv2D, x, weight, bias, stride=stride, pads=pads)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The transposed convolution (adjoint of conv2d) of x (N, Cin, H, W) with weight
    (Cin, Cout, KH, KW), plus bias (Cout,), as PyTorch's conv_transpose2d: output size
    (H - 1)·stride - 2·padding + KH + output_padding. stride, padding, output_padding:
    int or pair; output_padding < stride."""
    _check_conv_inputs("conv_transpose2d", x, weight, bias, "(in, out, kh, kw)", in_axis=0, out_axis=1)
    stride = _pair(stride, "conv_transpose2d", "stride", minimum=1)
    ph, pw = _pair(padding, "conv_transpose2d", "padding", minimum=0)
    oph, opw = _pair(output_padding, "conv_transpose2d", "output_padding", minimum=0)
    if oph >= stride[0] or opw >= stride[1]:
        raise ValueError(f"conv_transpose2d: output_padding {(oph, opw)} must be smaller than "
                         f"stride {stride} in each dimension")
    (kh, kw), (h, w) = weight.shape[2:], x.shape[2:]
    out_h = (h - 1) * stride[0] - 2 * ph + kh + oph
    out_w = (w - 1) * stride[1] - 2 * pw + kw + opw
    if out_h < 1 or out_w < 1:
        raise ValueError(f"conv_transpose2d: padding {(ph, pw)} leaves no output for x {x.shape} "
                         f"and kernel {kh}×{kw} (output {out_h}×{out_w})")
    if stride == (1, 1) and builtins.max(ph, pw) < min(kh, kw) and out_h * out_w * x.shape[1] < h * w * weight.shape[1]:
        # The mirror of conv2d's choice: with stride 1 this is conv2d with the flipped
        # kernel, whose temporary is smaller when Cin < Cout.
        flipped = weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        pads = (kh - 1 - ph, kh - 1 - ph, kw - 1 - pw, kw - 1 - pw)
        return _apply_conv(Conv2D, x, flipped, bias, stride=stride, pads=pads)
    crops = (ph, ph - oph, pw, pw - opw)
    return _apply_conv(ConvTranspose2D, x, weight, bias, stride=stride, crops=crops)


def upsample_nearest2d(x, scale=2):
    """Repeat every pixel of x (N, C, H, W) scale×scale times: (N, C, scale·H, scale·W)."""
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d: expected x of shape (N, C, H, W), got shape {x.shape}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"upsample_nearest2d: scale must be a positive int, got {scale!r}")
    return UpSample2D.apply(x, scale=scale)


def _apply_conv(op, x, weight, bias, **params):
    return op.apply(x, weight, **params) if bias is None else op.apply(x, weight, bias, **params)


def _check_conv_inputs(name, x, weight, bias, weight_layout, in_axis, out_axis):
    if x.ndim != 4:
        raise ValueError(f"{name}: expected x of shape (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{name}: expected weight of shape {weight_layout}, got shape {weight.shape}")
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(f"{name}: x has {x.shape[1]} channels (shape {x.shape}) but weight of "
                         f"shape {weight.shape} {weight_layout} expects {weight.shape[in_axis]}")
    if bias is not None and bias.shape != (weight.shape[out_axis],):
        raise ValueError(f"{name}: expected bias of shape ({weight.shape[out_axis]},) for weight "
                         f"of shape {weight.shape}, got shape {bias.shape}")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{name}: x is {x.dtype} but weight is {weight.dtype}"
                        + ("" if bias is None else f" and bias {bias.dtype}")
                        + "; convert them to one dtype with .to(dtype=...)")


def _pair(value, name, what, minimum):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise ValueError(f"{name}: {what} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return pair


def _conv_padding(padding, in_hw, kernel, stride):
    """conv2d's padding as (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":  # Keras: out = ceil(in / s); the extra pixel goes bottom/right
        pads = []
        for n, k, s in zip(in_hw, kernel, stride):
            total = builtins.max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be an int, a pair, (top, bottom, left, right), "
                         f"'valid' or 'same', got {padding!r}")
    if not isinstance(padding, int) and len(padding) == 4:
        pads = tuple(padding)
    else:
        ph, pw = _pair(padding, "conv2d", "padding", minimum=0)
        pads = (ph, ph, pw, pw)
    if not all(isinstance(p, int) and p >= 0 for p in pads):
        raise ValueError(f"conv2d: padding must be non-negative ints, got {padding!r}")
    return pads
