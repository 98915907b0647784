"""The affine map of a Dense layer, as one op: y = x Wᵀ + b; and weight normalization,
the reparametrisation w = g·v/‖v‖ of its weight (docs/layers.md derives both backwards)."""
from .. import kernels
from ..backend import get_array_module
from ..blas import matmul
from ..tensor import Function


class Linear(Function):
    """y = x Wᵀ + b   for x (..., in), W (out, in), b (out,) (b optional);
    gx = gy W,   gW = Σ_rows gyᵀ x,   gb = Σ_rows gy   (rows: every axis but the last)"""

    def forward(self, x, weight, *bias):
        self.x, self.weight = x, weight
        y = matmul(x, weight.T)
        if bias:
            y += bias[0]  # y is a fresh array: add in place, no second copy
        return y

    def backward(self, gy):
        x, weight = self.x, self.weight
        gx = matmul(gy, weight) if self.needs_input_grad[0] else None
        gy_rows = gy.reshape(-1, gy.shape[-1])
        gw = matmul(gy_rows.T, x.reshape(-1, x.shape[-1])) if self.needs_input_grad[1] else None
        if len(self.needs_input_grad) == 2:
            return gx, gw
        gb = gy_rows.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_graph(self, gy, x, weight, *bias, y):
        gx = gy @ weight if self.needs_input_grad[0] else None
        gy_rows = gy.reshape(-1, gy.shape[-1])
        gw = gy_rows.T @ x.reshape(-1, x.shape[-1]) if self.needs_input_grad[1] else None
        if not bias:
            return gx, gw
        gb = gy_rows.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x, weight, bias=None):
    """y = x @ weightᵀ + bias for x (..., in), weight (out, in), bias (out,) or None."""
    if weight.ndim != 2:
        raise ValueError(f"linear: expected weight of shape (out, in), got shape {tuple(weight.shape)}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: shapes {tuple(x.shape)} and {tuple(weight.shape)}: x has "
                         f"{x.shape[-1] if x.ndim else 0} features (its last axis) but the "
                         f"weight (out, in) takes {weight.shape[1]}")
    if bias is None:
        return Linear.apply(x, weight)
    if bias.shape != weight.shape[:1]:
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} for weight of shape "
                         f"{tuple(weight.shape)}; expected ({weight.shape[0]},)")
    return Linear.apply(x, weight, bias)


class WeightNorm(Function):
    """w = g·v/‖v‖ per output row: v (out, in), g (out,), ‖v‖ = √(Σ_in v²) (out, 1).

    With v̂ = v/‖v‖, the row's direction, and gw = dL/dw:
        gg = Σ_in gw·v̂                    the part of gw along v̂, per row
        gv = (g/‖v‖)·(gw − gg·v̂)          the rest of gw, scaled: orthogonal to v
    so a gradient step on v turns the row and leaves its length to g (Salimans & Kingma 2016).
    Saved for backward: v̂ (out, in) and g/‖v‖ (out, 1) (on the GPU: Σv² and g, which give it).
    """

    def forward(self, v, g):
        xp = get_array_module(v)
        sum_sq = (v * v).sum(axis=1, keepdims=True)            # (out, 1)
        self.fused = kernels.fused(v) and g.dtype == v.dtype
        if self.fused:  # 3 launches instead of 6 (WEIGHT_NORM below)
            self.sum_sq, self.g = sum_sq, g[:, None]
            self.v_hat, w = xp.empty_like(v), xp.empty_like(v)
            WEIGHT_NORM(v, sum_sq, self.g, self.v_hat, w)
            return w
        norm = xp.sqrt(sum_sq)
        self.v_hat = v / norm
        self.scale = g[:, None] / norm                          # g/‖v‖
        return g[:, None] * self.v_hat

    def backward(self, gw):
        gg = (gw * self.v_hat).sum(axis=1)
        gv = None
        if self.needs_input_grad[0] and self.fused:
            gv = get_array_module(gw).empty_like(gw)
            WEIGHT_NORM_GRADIENT(gw, self.v_hat, gg[:, None], self.g, self.sum_sq, gv)
        elif self.needs_input_grad[0]:
            gv = self.scale * (gw - gg[:, None] * self.v_hat)
        return gv, (gg if self.needs_input_grad[1] else None)

    def backward_graph(self, gw, v, g, y):
        norm = ((v * v).sum(axis=1, keepdims=True)) ** 0.5     # v̂ and ‖v‖ again, with ops
        v_hat = v / norm
        gg = (gw * v_hat).sum(axis=1)
        gv = (g.reshape((-1, 1)) / norm) * (gw - gg.reshape((-1, 1)) * v_hat)
        return gv, gg


# WeightNorm on the GPU (minigrad/kernels.py), the same arithmetic as the NumPy lines above:
# ‖v‖ from the rows' Σv², then v̂ and w in one kernel; gv = (g/‖v‖)·(gw − gg·v̂) in another.
WEIGHT_NORM = kernels.Kernel("T v, T sum_sq, T g", "T v_hat, T w", """const T norm = sqrt(sum_sq);
    v_hat = v / norm;
    w = g * v_hat;""", "minigrad_weight_norm")
WEIGHT_NORM_GRADIENT = kernels.Kernel("T gw, T v_hat, T gg, T g, T sum_sq", "T gv",
                                      "gv = g / sqrt(sum_sq) * (gw - gg * v_hat);", "minigrad_weight_norm_gradient")


def weight_norm(v, g):
    """w = g·v/‖v‖ with ‖v‖ the norm of each row of v (out, in), g (out,)."""
    if v.ndim != 2 or g.shape != v.shape[:1]:
        raise ValueError(f"weight_norm: expected v (out, in) and g (out,), got shapes "
                         f"{tuple(v.shape)} and {tuple(g.shape)}")
    return WeightNorm.apply(v, g)
