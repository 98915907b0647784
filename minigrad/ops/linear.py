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
