"""Batch and layer normalization as one op each, with the compact backward (derived in
docs/layers.md).

BatchNorm's statistics are per channel: over the batch for x (N, C), over the batch and
every pixel for x (N, C, H, W). Channel sums use `einsum` on x as it lies in memory: one
pass and no temporary, faster in NumPy than `sum(axis=(0, 2, 3))`, and no copy of a strided
view (a cropped transposed convolution's output), which a reshape to (N, C, H·W) would make.
On CuPy they are plain sums: there einsum's planning costs more host time (about 0.2 ms a
call, measured on an H200) than the GPU's work, and a GAN step there waits on the host.
LayerNorm's are per sample, over every axis but the first.

For second derivatives (backward_graph) x̂ and inv_std are recomputed from x with ops
(`standardize`), so that the gradient's dependence on x through them is differentiated.
"""
from .. import kernels
from ..backend import backend_of, get_array_module
from ..tensor import Function


def standardize(x, axes, eps):
    """x̂ = (x − μ)·inv_std and inv_std = 1/√(σ² + ε), statistics over `axes` (kept as size-1
    axes), as ops on the Tensor x: the forward again, for backward_graph."""
    centred = x - x.mean(axis=axes, keepdims=True)
    inv_std = ((centred * centred).mean(axis=axes, keepdims=True) + eps) ** -0.5
    return centred * inv_std, inv_std


def normalized_input_gradient(g_hat, x_hat, inv_std, axes):
    """gx = inv_std·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)), means over `axes`: the gradient through
    x̂ = (x − μ)·inv_std when μ and σ² are statistics of x itself (arrays or tensors)."""
    return inv_std * (g_hat - g_hat.mean(axis=axes, keepdims=True)
                      - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))


def channel_sum(a):
    """Σ over every axis but 1: (N, C, ...) -> (C,). einsum in one pass, on the array as it
    lies in memory (a reshape would copy a strided view, e.g. a cropped convolution output)."""
    if backend_of(a) == "cupy":
        return a.sum(axis=(0, *range(2, a.ndim)))
    axes = "nchwd"[:a.ndim]
    return get_array_module(a).einsum(f"{axes}->c", a)


def channel_dot(a, b):
    """Σ a·b over every axis but 1, without forming a·b: (N, C, ...) x 2 -> (C,)."""
    if backend_of(a) == "cupy":
        return channel_sum(a * b)
    axes = "nchwd"[:a.ndim]
    return get_array_module(a).einsum(f"{axes},{axes}->c", a, b)


def normalize_and_scale(op, centred, inv_std, gamma_beta, per_channel=None):
    """The end of both forwards: x̂ = (x − μ)·inv_std (in place, in `centred`), kept on the op
    with inv_std and γ for backward, then y = γ·x̂ + β, or x̂ itself without γ and β; on the
    GPU x̂ and y in one kernel (NORMALIZE_AND_SCALE). per_channel: the shape that broadcasts
    BatchNorm's (C,) vectors against x; LayerNorm's broadcast as they are (None)."""
    def broadcast(vector):
        return vector if per_channel is None else vector.reshape(per_channel)

    x_hat = centred
    op.x_hat, op.inv_std = x_hat, inv_std
    op.gamma = gamma_beta[0] if gamma_beta else None
    if gamma_beta and kernels.fused(x_hat) and all(a.dtype == x_hat.dtype for a in (inv_std, *gamma_beta)):
        y = get_array_module(x_hat).empty_like(x_hat)
        NORMALIZE_AND_SCALE(*(broadcast(a) for a in (inv_std, *gamma_beta)), x_hat, y)
        return y
    x_hat *= broadcast(inv_std)
    if not gamma_beta:
        return x_hat
    gamma, beta = gamma_beta
    y = x_hat * broadcast(gamma)
    y += broadcast(beta)
    return y


class BatchNorm(Function):
    """Per-channel normalization of x (N, C) or (N, C, H, W); M = values per channel.

    Training:  μ = Σx / M,   σ² = Σ(x − μ)² / M,   inv_std = 1 / √(σ² + ε)
               x̂ = (x − μ)·inv_std,   y = γ·x̂ + β
               gx = (1/M)·γ·inv_std·(M·gy − Σgy − x̂·Σ(gy·x̂)),   gγ = Σ gy·x̂,   gβ = Σ gy
               running_mean ← (1 − momentum)·running_mean + momentum·μ
               running_var  ← (1 − momentum)·running_var + momentum·σ²·M/(M − 1)
    Evaluation: μ, σ² are the running statistics, constants: gx = γ·inv_std·gy.

    Inputs: x, then γ and β (both, or neither when affine=False). Params: training,
    momentum, eps, running_mean and running_var (raw (C,) arrays updated in place, or None).
    Saved for backward: x̂ and inv_std (and γ, a parameter).
    """

    def forward(self, x, *gamma_beta):
        xp = get_array_module(x)
        per_channel = (1, -1) + (1,) * (x.ndim - 2)  # a (C,) vector broadcast against x
        if self.training:
            m = x.size // x.shape[1]
            if m < 2:
                raise ValueError(f"batch_norm: training needs more than one value per channel "
                                 f"to compute a variance; got input of shape {x.shape}")
            if self._fused(x, gamma_beta):
                return self._fused_forward(x, gamma_beta, per_channel, m)
            mean = channel_sum(x) / m
            centred = x - mean.reshape(per_channel)
            var = channel_dot(centred, centred) / m
            self._update_running_stats(mean, var * (m / (m - 1)))
        else:
            if self.running_mean is None or self.running_var is None:
                raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
            mean, var = self.running_mean, self.running_var
            centred = x - mean.reshape(per_channel).astype(x.dtype, copy=False)
        inv_std = (1 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        return normalize_and_scale(self, centred, inv_std, gamma_beta, per_channel)

    def _update_running_stats(self, batch_mean, batch_var_unbiased):
        for running, batch in ((self.running_mean, batch_mean),
                               (self.running_var, batch_var_unbiased)):
            if running is not None:
                running *= 1 - self.momentum
                running += self.momentum * batch

    def backward(self, gy):
        x_hat, per_channel = self.x_hat, (1, -1) + (1,) * (gy.ndim - 2)
        if self.training or self.gamma is not None:
            sum_gy, sum_gy_x_hat = channel_sum(gy), channel_dot(gy, x_hat)
        gx = None
        if self.needs_input_grad[0] and self.training and self._fused(gy, (self.gamma,)):
            gamma = 1 if self.gamma is None else self.gamma.reshape(per_channel)
            gx = get_array_module(gy).empty_like(x_hat)
            BATCH_NORM_INPUT_GRADIENT(gy, x_hat, sum_gy.reshape(per_channel), sum_gy_x_hat.reshape(per_channel),
                                      gamma, self.inv_std.reshape(per_channel), gy.size // gy.shape[1], gx)
            return gx if self.gamma is None else (gx, sum_gy_x_hat, sum_gy)
        scale = self.inv_std if self.gamma is None else self.gamma * self.inv_std  # γ·inv_std
        if self.needs_input_grad[0] and self.training:
            # gx = γ·inv_std·(gy − Σgy/M − x̂·Σ(gy·x̂)/M), in four passes over memory
            m = gy.size // gy.shape[1]
            gx = x_hat * (-sum_gy_x_hat / m).reshape(per_channel)
            gx += gy
            gx -= (sum_gy / m).reshape(per_channel)
            gx *= scale.reshape(per_channel)
        elif self.needs_input_grad[0]:
            gx = gy * scale.reshape(per_channel)
        if self.gamma is None:
            return gx
        return gx, sum_gy_x_hat, sum_gy

    def _fused(self, x, arrays):
        """Whether to take the GPU's route (minigrad/kernels.py): one dtype for all."""
        arrays = (*arrays, self.running_mean, self.running_var)
        return kernels.fused(x) and all(a is None or a.dtype == x.dtype for a in arrays)

    def _fused_forward(self, x, gamma_beta, per_channel, m):
        """forward in training, in 7 launches rather than about 19: the statistics of each
        channel in one kernel, x̂ and y in another."""
        xp = get_array_module(x)
        mean = channel_sum(x) / m
        centred = x - mean.reshape(per_channel)
        sum_sq = channel_dot(centred, centred)
        inv_std = xp.empty_like(mean)
        running = (self.running_mean, self.running_var)
        if running[0] is None or running[1] is None:
            running = (xp.empty_like(mean), xp.empty_like(mean))  # updated, then dropped
        BATCH_STATISTICS(mean, sum_sq, m, self.eps, 1 - self.momentum, self.momentum, m / (m - 1),
                         inv_std, *running)
        return normalize_and_scale(self, centred, inv_std, gamma_beta, per_channel)

    def backward_graph(self, gy, x, *gamma_beta, y):
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        if self.training:
            x_hat, inv_std = standardize(x, axes, self.eps)
        else:  # x̂ = x·inv_std − μ·inv_std with constant statistics; the shift from the saved x̂
            inv_std = self.inv_std.reshape(per_channel)
            x_hat = x * inv_std - (x.data * inv_std - self.x_hat)
        g_hat = gy * gamma_beta[0].reshape(per_channel) if gamma_beta else gy
        gx = None
        if self.needs_input_grad[0]:
            gx = normalized_input_gradient(g_hat, x_hat, inv_std, axes) if self.training else g_hat * inv_std
        if not gamma_beta:
            return gx
        return gx, (gy * x_hat).sum(axis=axes), gy.sum(axis=axes)


# The training route on the GPU, each kernel the same arithmetic, in the same order, as the
# NumPy passes above (bit for bit on the CPU; the GPU may fuse a multiply-add).
BATCH_STATISTICS = kernels.Kernel(
    "T mean, T sum_sq, T m, T eps, T keep, T momentum, T unbiased", "T inv_std, T running_mean, T running_var",
    """const T var = sum_sq / m;
    inv_std = (T)1 / sqrt(var + eps);
    running_mean = running_mean * keep + momentum * mean;
    running_var = running_var * keep + momentum * (var * unbiased);""",
    "minigrad_batch_statistics")

NORMALIZE_AND_SCALE = kernels.Kernel(
    "T inv_std, T gamma, T beta", "T x_hat, T y",
    """x_hat = x_hat * inv_std;
    y = x_hat * gamma + beta;""",
    "minigrad_normalize_and_scale")

BATCH_NORM_INPUT_GRADIENT = kernels.Kernel(
    "T gy, T x_hat, T sum_gy, T sum_gy_x_hat, T gamma, T inv_std, T m", "T gx",
    "gx = ((x_hat * (-sum_gy_x_hat / m) + gy) - sum_gy / m) * (gamma * inv_std);",
    "minigrad_batch_norm_input_gradient")


class LayerNorm(Function):
    """Per-sample normalization of x (N, ...) over every axis but the first (a WGAN-GP
    critic's BatchNorm: the gradient penalty is per sample, which batch statistics would
    mix); M = values per sample, statistics per sample:

        μ = Σx / M,   σ² = Σ(x − μ)² / M,   inv_std = 1 / √(σ² + ε)
        x̂ = (x − μ)·inv_std,   y = γ·x̂ + β         (γ, β of shape x.shape[1:])
        gx̂ = gy·γ
        gx = inv_std·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))   (means over the sample)
        gγ = Σ_n gy·x̂,   gβ = Σ_n gy

    gx is BatchNorm's with the roles of the axes exchanged: x̂ depends on x directly and
    through μ and σ², which gives the two mean terms (docs/layers.md derives them).
    Inputs: x, then γ and β (both, or neither). Param: eps.
    Saved for backward: x̂ and inv_std (N, 1, ..., 1) (and γ, a parameter).
    """

    def forward(self, x, *gamma_beta):
        xp = get_array_module(x)
        self.axes = tuple(range(1, x.ndim))
        self.fused = kernels.fused(x) and all(a.dtype == x.dtype for a in gamma_beta)
        centred = x - x.mean(axis=self.axes, keepdims=True)
        var = (centred * centred).mean(axis=self.axes, keepdims=True)
        if self.fused:  # 6 launches instead of 10: inv_std in one kernel, x̂ and y in another
            inv_std = xp.empty_like(var)
            LAYER_NORM_INV_STD(var, self.eps, inv_std)
        else:
            inv_std = 1 / xp.sqrt(var + self.eps)
        return normalize_and_scale(self, centred, inv_std, gamma_beta)

    def backward(self, gy):
        x_hat = self.x_hat
        g_hat = gy if self.gamma is None else gy * self.gamma
        gx = None
        if self.needs_input_grad[0] and self.fused:  # 5 launches instead of 8
            gx = get_array_module(gy).empty_like(gy)
            LAYER_NORM_INPUT_GRADIENT(g_hat, x_hat, g_hat.mean(axis=self.axes, keepdims=True),
                                      (g_hat * x_hat).mean(axis=self.axes, keepdims=True), self.inv_std, gx)
        elif self.needs_input_grad[0]:
            gx = normalized_input_gradient(g_hat, x_hat, self.inv_std, self.axes)
        if self.gamma is None:
            return gx
        g_gamma = (gy * x_hat).sum(axis=0) if self.needs_input_grad[1] else None
        g_beta = gy.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, g_gamma, g_beta

    def backward_graph(self, gy, x, *gamma_beta, y):
        x_hat, inv_std = standardize(x, self.axes, self.eps)
        g_hat = gy * gamma_beta[0] if gamma_beta else gy
        gx = normalized_input_gradient(g_hat, x_hat, inv_std, self.axes) if self.needs_input_grad[0] else None
        if not gamma_beta:
            return gx
        g_gamma = (gy * x_hat).sum(axis=0) if self.needs_input_grad[1] else None
        g_beta = gy.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, g_gamma, g_beta


# LayerNorm on the GPU: the NumPy lines' arithmetic, in their order (x̂ and y as BatchNorm's)
LAYER_NORM_INV_STD = kernels.Kernel("T var, T eps", "T inv_std", "inv_std = (T)1 / sqrt(var + eps);",
                                    "minigrad_layer_norm_inv_std")
LAYER_NORM_INPUT_GRADIENT = kernels.Kernel(
    "T g_hat, T x_hat, T mean_g_hat, T mean_g_hat_x_hat, T inv_std", "T gx",
    "gx = inv_std * (g_hat - mean_g_hat - x_hat * mean_g_hat_x_hat);", "minigrad_layer_norm_input_gradient")


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
