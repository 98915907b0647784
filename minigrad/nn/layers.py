"""Layers without convolution or batch statistics: Dense and its weight-normalised form, the
activations, Dropout, GaussianNoise and the shape layers. Images are NCHW; weight layouts are PyTorch's."""
import math

import numpy

from .. import functional as F
from ..backend import get_array_module
from ..tensor import Tensor, no_grad
from . import init
from .module import Module


def new_parameter(shape):
    """A float32 leaf that requires grad, on the active backend (filled by an initializer)."""
    return Tensor(numpy.zeros(shape, numpy.float32), requires_grad=True)


def check_sizes(layer, pairs=(), **sizes):
    """Raise a ValueError naming the layer and the value for a size that is not a positive
    int (or, for the names in `pairs`, a pair of them): Dense(0, 5) would otherwise die in
    a ZeroDivisionError inside the initializer, far from the mistake."""
    for name, value in sizes.items():
        pair = name in pairs and isinstance(value, (tuple, list)) and len(value) == 2
        if not all(_is_int(v) and v > 0 for v in (value if pair else (value,))):
            kind = "a positive int or a pair of them" if name in pairs else "a positive int"
            raise ValueError(f"{type(layer).__name__}: {name} must be {kind}, got {value!r}")


def _is_int(value):
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def shape_error(layer, expected, x, advice=""):
    """The error a layer raises for an input it cannot take: which layer, what it expected."""
    message = f"{layer!r}: expected input of shape {expected}, got {tuple(x.shape)}"
    return ValueError(message + (f"; {advice}" if advice else ""))


class Dense(Module):
    """Fully connected layer: y = x Wᵀ + b, x (N, in) -> y (N, out); W (out, in), b (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        check_sizes(self, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_parameter((out_features, in_features))
        self.bias = new_parameter((out_features,)) if bias else None
        init.default_init_(self.weight, self.bias)

    def forward(self, x, weight=None):
        """weight: a tensor in place of self.weight (SpectralNorm passes its normalised one)."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            advice = ("add Flatten() before this layer to turn each sample into a vector"
                      if x.ndim > 2 else "")
            raise shape_error(self, f"(N, {self.in_features})", x, advice)
        return F.linear(x, self.weight if weight is None else weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class WeightNormDense(Module):
    """A Dense layer with a weight-normalised weight (Salimans & Kingma 2016):

        y = x wᵀ + b,   w = g·v/‖v‖   (each output row of v scaled to length g)

    x (N, in) -> y (N, out); weight_v (out, in), weight_g (out,), bias (out,). The row's
    direction (v) and its length (g) are learnt apart. At first g = ‖v‖, so the layer starts
    as a Dense of the same initialisation; `init_from_batch` then sets g and b from data.
    train_scale=False keeps g out of the parameters (a buffer: saved, never trained), as the
    Improved-GAN code does for its hidden layers.
    """

    def __init__(self, in_features, out_features, bias=True, train_scale=True):
        super().__init__()
        check_sizes(self, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.train_scale = train_scale
        self.weight_v = new_parameter((out_features, in_features))
        self.bias = new_parameter((out_features,)) if bias else None
        init.default_init_(self.weight_v, self.bias)
        v = self.weight_v.data
        row_norms = get_array_module(v).sqrt((v * v).sum(axis=1))
        if train_scale:
            self.weight_g = Tensor._wrap(row_norms, requires_grad=True)
        else:
            self.register_buffer("weight_g", row_norms)

    def scale(self):
        """g as a tensor: the parameter, or the buffer as a constant."""
        return self.weight_g if self.train_scale else Tensor._wrap(self.weight_g)

    def weight(self):
        """w = g·v/‖v‖, (out, in)."""
        return F.weight_norm(self.weight_v, self.scale())

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            advice = ("add Flatten() before this layer to turn each sample into a vector"
                      if x.ndim > 2 else "")
            raise shape_error(self, f"(N, {self.in_features})", x, advice)
        return F.linear(x, self.weight(), self.bias)

    def init_from_batch(self, x, eps=1e-8):
        """Data-dependent initialisation (Salimans & Kingma 2016, §2.2): set g and b so that
        the pre-activations y on the batch x have mean 0 and standard deviation 1 per unit.
        With t = x wᵀ (no bias), μ and σ its mean and standard deviation over the batch:

            g ← g/σ,   b ← −μ/σ       so that   y = x wᵀ + b = (t − μ)/σ

        Returns the layer's new output on x."""
        if self.bias is None:
            raise ValueError(f"{self!r}: init_from_batch sets the bias; this layer has none")
        with no_grad():
            t = F.linear(x, self.weight()).data                                 # (N, out)
            mean = t.mean(axis=0)
            std = get_array_module(t).sqrt(((t - mean) ** 2).mean(axis=0) + eps)
            g = self.weight_g.data if self.train_scale else self.weight_g
            new_g = (g / std).astype(g.dtype)
            if self.train_scale:
                self.weight_g.data = new_g
            else:
                self.weight_g = new_g
            self.bias.data = (-mean / std).astype(self.bias.dtype)
            return self(x)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, train_scale={self.train_scale}")


class ReLU(Module):
    """y = max(x, 0)"""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope·x otherwise (the DCGAN discriminator uses 0.2)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """y = ln(1 + eˣ), a smooth ReLU (the Improved-GAN generator's activation)."""

    def forward(self, x):
        return F.softplus(x)


class Tanh(Module):
    """y = tanh x, in (−1, 1): the generator's output layer for images scaled to [−1, 1]."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """y = 1 / (1 + e⁻ˣ). For a loss, prefer raw logits with binary_cross_entropy_with_logits."""

    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    """y = eˣ / Σ eˣ along `axis`."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Dropout(Module):
    """In training, zero each value with probability p and scale the rest by 1/(1 − p);
    in eval mode, the identity."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class GaussianNoise(Module):
    """In training, add N(0, σ²) noise to every value, drawn on the input's backend; in eval
    mode, the identity. A regulariser: the Improved-GAN discriminator adds it to its input
    (σ 0.3) and before every later dense layer (σ 0.5)."""

    def __init__(self, sigma):
        super().__init__()
        if not (isinstance(sigma, (int, float)) and sigma >= 0):
            raise ValueError(f"GaussianNoise: sigma must be a number, 0 or more, got {sigma!r}")
        self.sigma = sigma

    def forward(self, x):
        return F.gaussian_noise(x, self.sigma, self.training)

    def extra_repr(self):
        return f"sigma={self.sigma}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...): an image batch as a batch of vectors."""

    def forward(self, x):
        if x.ndim < 2:
            raise shape_error(self, "(N, ...) with at least 2 axes", x)
        return F.flatten(x)


class Reshape(Module):
    """(N, ...) -> (N, *shape): e.g. Reshape((128, 7, 7)) after a generator's Dense layer."""

    def __init__(self, shape):
        super().__init__()
        self.shape = (shape,) if _is_int(shape) else tuple(shape) if isinstance(shape, (tuple, list)) else ()
        if (not isinstance(shape, (tuple, list)) and not _is_int(shape)
                or not all(_is_int(n) and (n > 0 or n == -1) for n in self.shape)
                or self.shape.count(-1) > 1):
            raise ValueError(f"Reshape: shape must be positive ints, one of them -1 at most "
                             f"(inferred), got {shape!r}")

    def forward(self, x):
        per_sample = math.prod(x.shape[1:])
        known = math.prod(n for n in self.shape if n != -1)  # -1: inferred, as in NumPy
        fits = per_sample % known == 0 if -1 in self.shape else per_sample == known
        if x.ndim < 1 or not fits:
            raise shape_error(self, f"(N, ...) with {known} values per sample", x)
        return F.reshape(x, (x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class Embedding(Module):
    """A table of `num_embeddings` learned vectors of size `dim`: ids (N,) -> (N, dim), row
    ids[n] of the weight (num_embeddings, dim) for each n. Weights drawn from N(0, 1), as in
    PyTorch; a class label's vector in a conditional GAN."""

    def __init__(self, num_embeddings, dim):
        super().__init__()
        check_sizes(self, num_embeddings=num_embeddings, dim=dim)
        self.num_embeddings, self.dim = num_embeddings, dim
        self.weight = new_parameter((num_embeddings, dim))
        init.normal_(self.weight, 0.0, 1.0)

    def forward(self, ids):
        return F.embedding(ids, self.weight)

    def extra_repr(self):
        return f"num_embeddings={self.num_embeddings}, dim={self.dim}"
