"""BatchNorm: normalize each channel with the batch's statistics while training and with
running averages of them in eval mode. LayerNorm: normalize each sample over its own
values, the same in training and eval. The ops are minigrad/ops/normalization.py."""
from .. import functional as F
from .. import backend
from ..tensor import DEFAULT_DTYPE, Tensor
from .layers import _is_int, check_sizes, new_parameter, shape_error
from .module import Module
from . import init


class BatchNorm(Module):
    """Batch normalization of x (N, C) or (N, C, H, W), C = num_features.

    y = γ·(x − μ)/√(σ² + ε) + β per channel. Training: μ, σ² of the batch (over N, H, W),
    and running_mean/running_var ← (1 − momentum)·running + momentum·batch (the unbiased
    variance, as PyTorch). Eval: the running statistics. γ (ones) and β (zeros) are
    parameters when affine=True; the running statistics are buffers, never trained.
    train_scale=False keeps γ at 1 as a buffer (saved, never trained), a shift β only, as
    the Improved-GAN generator's BatchNorm.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, train_scale=True):
        super().__init__()
        check_sizes(self, num_features=num_features)
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        self.train_scale = affine and train_scale
        self.gamma = init.constant_(new_parameter((num_features,)), 1.0) if affine else None
        self.beta = new_parameter((num_features,)) if affine else None
        # The running statistics take the parameters' dtype and backend (the defaults when
        # affine=False leaves none), so that a float64 layer stays float64 throughout.
        xp, dtype = backend.backend_module(), DEFAULT_DTYPE
        if affine:
            xp, dtype = backend.get_array_module(self.gamma.data), self.gamma.dtype
        self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", xp.ones(num_features, dtype=dtype))
        if affine and not train_scale:
            self.register_buffer("gamma", self.gamma.data)

    def forward(self, x):
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            c = self.num_features
            raise shape_error(self, f"(N, {c}) or (N, {c}, H, W)", x)
        return F.batch_norm(x, self.scale(), self.beta, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def scale(self):
        """γ as a tensor: the parameter, the buffer as a constant, or None (affine=False)."""
        if self.train_scale or self.gamma is None:
            return self.gamma
        return Tensor._wrap(self.gamma)

    def extra_repr(self):
        fixed = ", train_scale=False" if self.affine and not self.train_scale else ""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}{fixed}")


class LayerNorm(Module):
    """Layer normalization of x (N, *normalized_shape), per sample: y = γ·(x − μ)/√(σ² + ε) + β
    with μ, σ² over all of a sample's values (C·H·W for an image), the same in training and
    eval mode, with no running statistics. γ (ones) and β (zeros) have normalized_shape,
    e.g. (C, H, W) or (features,), when affine=True. A WGAN-GP critic uses it instead of
    BatchNorm: the gradient penalty is per sample, and batch statistics tie samples together.
    """

    def __init__(self, normalized_shape, eps=1e-5, affine=True):
        super().__init__()
        shape = ((normalized_shape,) if _is_int(normalized_shape) else tuple(normalized_shape)
                 if isinstance(normalized_shape, (tuple, list)) else ())
        if not shape or not all(_is_int(n) and n > 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a tuple of "
                             f"them, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.affine = shape, eps, affine
        self.gamma = init.constant_(new_parameter(shape), 1.0) if affine else None
        self.beta = new_parameter(shape) if affine else None

    def forward(self, x):
        if tuple(x.shape[1:]) != self.normalized_shape:
            raise shape_error(self, f"(N, {', '.join(map(str, self.normalized_shape))})", x)
        return F.layer_norm(x, self.gamma, self.beta, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, affine={self.affine}"
