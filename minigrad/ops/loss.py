"""Losses as fused ops: each computes its loss and its gradient in closed form, so no
intermediate value (a sigmoid that rounds to 1, a log of 0, an exp that overflows) can
turn the result into inf or nan.

Targets are data, not inputs: they are never differentiated. They may be numbers, host
arrays, backend arrays or tensors; an array must have exactly the shape of the
predictions (a (N,) target against (N, 1) predictions would silently broadcast to (N, N)).
The reduction is "mean" (over every element; over the rows for cross_entropy), "sum" or
"none" (the elementwise losses).

backward_graph writes each closed-form gradient with ops on the logits or probabilities
(σ(x), softmax(x), the clipped p), so that it can be differentiated again.
"""
import numpy

from .. import backend, host_access, kernels
from ..backend import get_array_module
from ..tensor import Function
from .elementwise import stable_sigmoid
from .reduction import Softmax

REDUCTIONS = ("mean", "sum", "none")


def as_targets(targets, like, loss_name):
    """`targets` as a number, or an array on like's backend, of like's dtype and shape."""
    if isinstance(targets, (int, float, numpy.generic)):
        return float(targets)
    data = backend.as_array_like(targets, like)
    if data.shape != like.shape:
        raise ValueError(f"{loss_name}: targets of shape {tuple(data.shape)} for predictions "
                         f"of shape {tuple(like.shape)}; they must match (reshape the targets)")
    return data.astype(like.dtype, copy=False)


def as_class_targets(targets, logits):
    """(labels, None) for class indices (N,), or (None, t) for one-hot/soft targets (N, C)."""
    n, classes = logits.shape
    data = backend.as_array_like(targets, logits)
    if data.shape == logits.shape:
        return None, data.astype(logits.dtype, copy=False)
    if data.shape != (n,):
        raise ValueError(f"cross_entropy: for logits of shape {tuple(logits.shape)} the targets "
                         f"are class labels of shape ({n},) or probabilities of shape "
                         f"{tuple(logits.shape)}; got shape {tuple(data.shape)}")
    labels = data.astype(numpy.int64, copy=False)
    # The check reads the labels on the host: done eagerly (a captured step's warm-up too),
    # left out inside a captured step, where a replay could not repeat it.
    checked = n and host_access.step_pool is None
    if checked and (bool((labels != data).any()) or int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"cross_entropy: class labels must be integers in [0, {classes}); "
                         f"got values from {float(data.min())} to {float(data.max())}")
    return labels, None


def check_reduction(reduction, loss_name):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss_name}: reduction must be one of {REDUCTIONS}, not {reduction!r}")


def reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def spread(gy, shape, reduction):
    """The upstream gradient of the reduced loss, as the gradient of each elementwise loss."""
    if reduction == "none":
        return gy
    n = 1
    for size in shape:
        n *= size
    return get_array_module(gy).broadcast_to(gy / n if reduction == "mean" else gy, shape)


def spread_tensor(gy, shape, reduction):
    """spread() for an upstream gradient Tensor (backward_graph)."""
    if reduction == "none":
        return gy
    n = 1
    for size in shape:
        n *= size
    return (gy / n if reduction == "mean" else gy).broadcast_to(shape)


class BinaryCrossEntropyWithLogits(Function):
    """ℓ = −t·ln σ(x) − (1 − t)·ln(1 − σ(x)) = max(x, 0) − x·t + ln(1 + e^−|x|)
    (the softplus form: e^−|x| ≤ 1, so nothing overflows at any x);
    gx = gy·(σ(x) − t)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        self.t = as_targets(self.targets, x, "binary_cross_entropy_with_logits")
        if kernels.fused(x):  # one launch on the GPU, not eight
            losses = xp.empty_like(x)
            BCE_WITH_LOGITS(x, self.t, losses)
        else:
            losses = xp.maximum(x, 0) - x * self.t + xp.log1p(xp.exp(-xp.abs(x)))
        return reduce(losses, self.reduction)

    def backward(self, gy):
        if kernels.fused(gy):  # one launch, not ten
            count = self.x.size if self.reduction == "mean" else 1
            gx = get_array_module(gy).empty_like(self.x)
            BCE_WITH_LOGITS_GRADIENT(self.x, self.t, gy, count, gx)
            return gx
        return spread(gy, self.x.shape, self.reduction) * (stable_sigmoid(self.x) - self.t)

    def backward_graph(self, gy, x, y):
        return spread_tensor(gy, x.shape, self.reduction) * (x.sigmoid() - self.t)


# The same formulas as one kernel each on the GPU (minigrad/kernels.py); gy is the mean's,
# the sum's (count 1) or, with reduction "none", each element's upstream gradient.
BCE_WITH_LOGITS = kernels.Kernel(
    "T x, T t", "T loss", "loss = (x > 0 ? x : (T)0) - x * t + log1p(exp(-fabs(x)));",
    "minigrad_bce_with_logits")
BCE_WITH_LOGITS_GRADIENT = kernels.Kernel(
    "T x, T t, T gy, T count", "T gx",
    """const T e = exp(-fabs(x));  // σ(x) = 1/(1 + e^−x), or e^x/(1 + e^x) below 0: no overflow
    gx = gy / count * ((x >= 0 ? (T)1 : e) / (1 + e) - t);""",
    "minigrad_bce_with_logits_gradient")


class BinaryCrossEntropy(Function):
    """ℓ = −t·ln p̃ − (1 − t)·ln(1 − p̃),   p̃ = clip(p, ε, 1 − ε),  ε = 1e-7
    (so neither log ever sees 0: the loss is at most −ln ε ≈ 16.1);
    gp = gy·(p̃ − t) / (p̃·(1 − p̃))   (the exact derivative for ε ≤ p ≤ 1 − ε,
    and finite, never zeroed, outside)"""

    eps = 1e-7

    def forward(self, p):
        xp = get_array_module(p)
        self.p_clipped = xp.clip(p, self.eps, 1 - self.eps)
        self.t = as_targets(self.targets, p, "binary_cross_entropy")
        pc = self.p_clipped
        losses = -(self.t * xp.log(pc) + (1 - self.t) * xp.log1p(-pc))
        return reduce(losses, self.reduction)

    def backward(self, gy):
        pc = self.p_clipped
        return spread(gy, pc.shape, self.reduction) * ((pc - self.t) / (pc * (1 - pc)))

    def backward_graph(self, gy, p, y):
        pc = p.clip(self.eps, 1 - self.eps)
        return spread_tensor(gy, p.shape, self.reduction) * ((pc - self.t) / (pc * (1 - pc)))


class CrossEntropy(Function):
    """Softmax cross-entropy of logits x (N, C) against class labels (N,) or targets t (N, C):
    ℓᵢ = −Σ_c tᵢc·log_softmax(x)ᵢc,   log_softmax(x) = x − m − ln Σ_c e^(x − m),  m = max_c x
    gx = gy·(softmax(x)·Σ_c tᵢc − t)   (= softmax(x) − onehot(label) for labels)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.labels, self.t = as_class_targets(self.targets, x)
        self.x_shape, self.fused = x.shape, self.labels is not None and kernels.fused(x)
        if self.fused:  # one kernel for the rows, where the lines below launch about 10
            n, classes = x.shape
            losses, self.row_max, self.log_sum = (xp.empty(n, dtype=x.dtype) for _ in range(3))
            CROSS_ENTROPY(x, self.labels, classes, losses, self.row_max, self.log_sum)
            self.x = x
            return reduce(losses, self.reduction)
        shifted = x - x.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = xp.exp(log_probs)
        if self.labels is not None:
            losses = -log_probs[xp.arange(x.shape[0]), self.labels]
        else:
            losses = -(self.t * log_probs).sum(axis=1)
        return reduce(losses, self.reduction)

    def backward(self, gy):
        xp = get_array_module(gy)
        if self.fused:
            gx = xp.empty(self.x_shape, dtype=self.x.dtype)
            CROSS_ENTROPY_GRADIENT(self.x, self.labels[:, None], self.row_max[:, None], self.log_sum[:, None],
                                   spread(gy, self.x_shape[:1], self.reduction)[:, None], self.x_shape[1], gx)
            return gx
        if self.labels is not None:
            gx = self.probs.copy()
            gx[xp.arange(gx.shape[0]), self.labels] -= 1
        else:
            gx = self.probs * self.t.sum(axis=1, keepdims=True)
            gx -= self.t
        gx *= spread(gy, self.x_shape[:1], self.reduction)[:, None]
        return gx

    def backward_graph(self, gy, x, y):
        t = self.t
        if self.labels is not None:  # one-hot targets
            xp = get_array_module(x.data)
            t = xp.zeros(x.shape, dtype=x.dtype)
            t[xp.arange(x.shape[0]), self.labels] = 1
        gx = Softmax.apply(x, axis=1) * t.sum(axis=1, keepdims=True) - t
        return gx * spread_tensor(gy, x.shape[:1], self.reduction).reshape(-1, 1)


# Softmax cross-entropy against labels on the GPU (minigrad/kernels.py): a thread per row
# finds its max m and ln Σ e^(x − m), then ℓ = −((x_label − m) − ln Σ); the gradient, a
# thread per logit, is (e^((x − m) − ln Σ) − [c = label])·gy, as the lines above compute it.
CROSS_ENTROPY = kernels.Kernel(
    "raw T x, int64 label, int32 classes", "T loss, T row_max, T log_sum",
    """const ptrdiff_t row = (ptrdiff_t)i * classes;
    T m = x[row];
    for (int c = 1; c < classes; ++c) m = x[row + c] > m ? x[row + c] : m;
    T total = 0;
    for (int c = 0; c < classes; ++c) total += exp(x[row + c] - m);
    row_max = m;
    log_sum = log(total);
    loss = -((x[row + label] - m) - log_sum);""",
    "minigrad_cross_entropy")
CROSS_ENTROPY_GRADIENT = kernels.Kernel(
    "T x, int64 label, T row_max, T log_sum, T gy, int32 classes", "T gx",
    "gx = (exp((x - row_max) - log_sum) - (i % classes == label ? (T)1 : (T)0)) * gy;",
    "minigrad_cross_entropy_gradient")


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


def feature_matching_loss(real_features, fake_features):
    """‖mean_batch(real) − mean_batch(fake)‖²: the squared distance between the mean
    activations of a discriminator's layer on a real batch and on a generated one, features
    (N, ...) summed over every axis but the batch's (Salimans et al. 2016, "Improved
    techniques for training GANs", §3.1). The generator's loss: it asks G for images whose
    features match the data's on average, not for images that fool D.

    The real side is detached: it is the target, and no gradient reaches whatever computed
    it (in the paper's code both sides are computed by D, and only G's parameters are
    updated with this loss). Their code divides by the number of features (a mean, not a
    sum); a constant factor that Adam's update cancels, but for its ε.
    gfake = −(2/N)·(mean(real) − mean(fake)) for every one of the N fake rows.
    """
    if real_features.shape[1:] != fake_features.shape[1:]:
        raise ValueError(f"feature_matching_loss: real features {tuple(real_features.shape)} and "
                         f"fake features {tuple(fake_features.shape)} differ beyond the batch axis")
    difference = real_features.detach().mean(axis=0) - fake_features.mean(axis=0)
    return (difference * difference).sum()
