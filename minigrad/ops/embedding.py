"""An embedding: a lookup of rows in a table, y = W[ids], and its backward.

The integer ids are data, not an input: they select rows and are never differentiated.
"""
import numpy

from .. import backend, host_access
from ..backend import get_array_module
from ..tensor import Function
from .shape import IndexAdd


class Embedding(Function):
    """y = W[ids]: for a table W (K, D) and integer ids of any shape S, y (S..., D) holds
    row ids[s] of W at each position s. The same as onehot(ids) @ W, without the zeros.

    gW = Σ_s onehot(ids[s])ᵀ gy[s]: each row of gy is added into the row of W it was read
    from, so a row read twice (a label that appears twice in a batch) gets both gradients,
    and a row never read gets zero. Keeps only the ids and W's shape for backward.
    The backward is IndexAdd (scatter-add) with the ids as its index; IndexAdd's own
    backward reads the rows again, so backward_graph is that op and differentiates again.
    """

    def forward(self, weight):
        self.weight_shape = weight.shape
        return weight[self.ids]

    def backward(self, gy):
        xp = get_array_module(gy)
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
