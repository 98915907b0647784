"""The affine map of a Dense layer, as one op: y = x Wᵀ + b."""
from ..tensor import Function


class Linear(Function):
    """y = x Wᵀ + b   for x (..., in), W (out, in), b (out,) (b optional);
    gx = gy W,   gW = Σ_rows gyᵀ x,   gb = Σ_rows gy   (rows: every axis but the last)"""

    def forward(self, x, weight, *bias):
        self.x, self.weight = x, weight
        y = x @ weight.T
        if bias:
            y += bias[0]  # y is a fresh array: add in place, no second copy
        return y

    def backward(self, gy):
        x, weight = self.x, self.weight
        gx = gy @ weight if self.needs_input_grad[0] else None
        gy_rows = gy.reshape(-1, gy.shape[-1])
        gw = gy_rows.T @ x.reshape(-1, x.shape[-1]) if self.needs_input_grad[1] else None
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
