"""Spectral normalisation (Miyato et al. 2018): a layer whose weight is divided by its largest
singular value, so that the layer stretches no input by more than 1 and a discriminator built
of such layers cannot sharpen without bound."""
from ..backend import backend_of, get_array_module
from ..blas import matmul
from ..random import random_normal
from ..tensor import Tensor
from .conv import Conv2D
from .layers import Dense
from .module import Module


class SpectralNorm(Module):
    """`layer` (a Dense or a Conv2D) with its weight W replaced by W/σ, σ the largest singular
    value of W seen as a matrix (out, in·kh·kw), estimated by power iteration:

        v ← Wᵀu/‖Wᵀu‖,   u ← Wv/‖Wv‖      (one step at each training forward; u is kept)
        σ = uᵀ W v,       y = layer(x) with W/σ

    u and v are constants of the graph, as in the paper's code: the gradient reaches W through
    the division and through σ (∂σ/∂W = u vᵀ). In evaluation the last u and v are used as
    they are. The layer keeps its weight (trained) and bias; u and v are buffers.
    """

    def __init__(self, layer, eps=1e-12):
        super().__init__()
        if not isinstance(layer, (Dense, Conv2D)):
            raise TypeError(f"SpectralNorm wraps a Dense or a Conv2D layer, got {type(layer).__name__}")
        self.layer, self.eps = layer, eps
        matrix = self._matrix().data
        u = random_normal((matrix.shape[0],), matrix.dtype, backend_of(matrix))
        self.register_buffer("u", self._unit(u))
        self.register_buffer("v", self._unit(matrix.T @ self.u))

    def _matrix(self):
        weight = self.layer.weight
        return weight.reshape(weight.shape[0], -1)                     # (out, in·kh·kw)

    def _unit(self, a):
        return a / (get_array_module(a).sqrt((a * a).sum()) + self.eps)

    def power_iteration(self):
        """One step of v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖ on the raw arrays (no graph), in place: u
        and v are state a captured step must update where it found it (docs/capture.md)."""
        matrix = self._matrix().data
        self.v[...] = self._unit(matmul(matrix.T, self.u))
        self.u[...] = self._unit(matmul(matrix, self.v))

    def sigma(self):
        """σ = uᵀ W v, a tensor of W with u and v as constants: copies, since the next forward
        moves u and v in place while this one's graph still needs them."""
        u, v = Tensor._wrap(self.u[:, None].copy()), Tensor._wrap(self.v[:, None].copy())
        return (u * (self._matrix() @ v)).sum()

    def forward(self, x):
        if self.training:
            self.power_iteration()
        return self.layer.forward(x, weight=self.layer.weight / self.sigma())
