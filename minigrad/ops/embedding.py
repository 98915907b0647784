"""An embedding: a lookup of rows in a table, y = W[ids], and its backward.

The integer ids are data, not an input: they select rows and are never differentiated.
"""
import numpy

from .. import backend, host_access, kernels
from ..backend import get_array_module
from ..blas import matmul
from ..tensor import Function
from .shape import IndexAdd

ONE_HOT_LIMIT = 1 << 24  # entries of the (ids, rows) one-hot matrix the GPU's route builds: 64 MB in float32


class Embedding(Function):
    """y = W[ids]: for a table W (K, D) and integer ids of any shape S, y (S..., D) holds
    row ids[s] of W at each position s. The same as onehot(ids) @ W, without the zeros.

    gW = Σ_s onehot(ids[s])ᵀ gy[s]: each row of gy is added into the row of W it was read
    from, so a row read twice (a label that appears twice in a batch) gets both gradients,
    and a row never read gets zero. Keeps only the ids and W's shape for backward.
    The backward is IndexAdd (scatter-add) with the ids as its index; IndexAdd's own
    backward reads the rows again, so backward_graph is that op and differentiates again.

    On the GPU (the kernels' route) the backward is that sum as one product, onehot(ids)ᵀ·gy:
    CuPy's add.at adds with atomics, in whatever order the threads arrive, so a row read twice
    would get a gradient whose last bits change from run to run, and so would the training;
    cuBLAS sums a product the same way every time. (Up to ONE_HOT_LIMIT entries of the
    one-hot: a label's ten rows here, not a vocabulary's.)
    """

    def forward(self, weight):
        self.weight_shape = weight.shape
        return weight[self.ids]

    def backward(self, gy):
        xp = get_array_module(gy)
        rows, dim = self.weight_shape
        if kernels.fused(gy) and self.ids.size * rows <= ONE_HOT_LIMIT:
            ids = self.ids.reshape(-1, 1)
            one_hot = (ids == xp.arange(rows, dtype=ids.dtype)).astype(gy.dtype)  # (ids, rows)
            return matmul(one_hot.T, gy.reshape(ids.shape[0], dim))
        gw = xp.zeros(self.weight_shape, dtype=gy.dtype)
        xp.add.at(gw, self.ids, gy)             # += : repeated ids add up
        return gw

    def backward_graph(self, gy, weight, y):
        return IndexAdd.apply(gy, index=self.ids, shape=weight.shape)


def embedding(ids, weight):
    """weight[ids] for a table weight (K, D) and integer ids (any shape) in [0, K):
    (ids.shape..., D). ids may be a Tensor, a backend or host array, or a list."""
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a table of shape (num_embeddings, dim), got "
                         f"shape {tuple(weight.shape)}")
    data = backend.as_array_like(ids, weight.data)
    if data.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got {data.dtype}")
    num_embeddings = weight.shape[0]
    checked = data.size and host_access.step_pool is None  # a host read: not in a captured step
    if checked and (int(data.min()) < 0 or int(data.max()) >= num_embeddings):
        raise ValueError(f"embedding: ids must be in [0, {num_embeddings}), got values from "
                         f"{int(data.min())} to {int(data.max())}")
    return Embedding.apply(weight, ids=data.astype(numpy.int64, copy=False))
