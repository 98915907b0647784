"""Ops that move values around without computing: reshape, transpose, broadcast_to,
indexing and concatenation. Their backward moves the gradient back the same way, and
backward_graph does it with ops: reshape, transpose, unbroadcast, slices, and IndexAdd
(GetItem's backward as an op, whose own backward is GetItem again)."""
from ..backend import as_array_like, get_array_module
from ..tensor import Function
from .arithmetic import unbroadcast


class Reshape(Function):
    """y = x viewed with a new shape;   gx = gy reshaped to x's shape"""

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)

    def backward_graph(self, gy, x, y):
        return gy.reshape(x.shape)


class Transpose(Function):
    """y = x with its axes permuted;   gx = gy permuted back (the inverse permutation)"""

    def forward(self, x):
        self.axes_used = tuple(self.axes) if self.axes is not None else tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes_used)

    def backward(self, gy):
        inverse = [0] * len(self.axes_used)
        for i, a in enumerate(self.axes_used):
            inverse[a] = i
        return gy.transpose(inverse)

    def backward_graph(self, gy, x, y):
        inverse = [0] * len(self.axes_used)
        for i, a in enumerate(self.axes_used):
            inverse[a] = i
        return gy.transpose(inverse)


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;   gx = gy summed over them"""

    def forward(self, x):
        self.x_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return unbroadcast(gy, self.x_shape)

    def backward_graph(self, gy, x, y):
        return unbroadcast(gy, x.shape)


def _has_array(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, list) for i in items)


class GetItem(Function):
    """y = x[index] (slices, integers, integer or boolean arrays);
    gx = zeros like x, with gy added at the indexed places (repeated indices add up)"""

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        if _has_array(self.index):
            xp.add.at(gx, self.index, gy)  # an index may repeat: accumulate, don't overwrite
        else:
            gx[self.index] = gy
        return gx

    def backward_graph(self, gy, x, y):
        return IndexAdd.apply(gy, index=self.index, shape=x.shape)


class IndexAdd(Function):
    """GetItem's backward as an op: y = zeros of `shape`, with x added at `index`
    (repeated indices add up);   gx = gy[index]"""

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.zeros(self.shape, dtype=x.dtype)
        if _has_array(self.index):
            xp.add.at(y, self.index, x)
        else:
            y[self.index] = x
        return y

    def backward(self, gy):
        return gy[self.index]

    def backward_graph(self, gy, x, y):
        return GetItem.apply(gy, index=self.index)


class Concatenate(Function):
    """y = [x₁, x₂, …] joined along `axis`;   gxᵢ = the slice of gy that came from xᵢ"""

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        bounds = [sum(self.sizes[:i + 1]) for i in range(len(self.sizes) - 1)]
        return tuple(xp.split(gy, bounds, axis=self.axis))

    def backward_graph(self, gy, *xs, y):
        before = (slice(None),) * (self.axis % gy.ndim)  # every axis ahead of `axis`
        starts = [sum(self.sizes[:i]) for i in range(len(self.sizes) + 1)]
        return tuple(GetItem.apply(gy, index=before + (slice(start, stop),))
                     for start, stop in zip(starts, starts[1:]))


def getitem(x, index):
    """x[index]: slices, integers, None, Ellipsis, integer or boolean arrays."""
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(as_array_like(i, x.data) if hasattr(i, "shape") or isinstance(i, list) else i
                  for i in items)
    return GetItem.apply(x, index=items if isinstance(index, tuple) else items[0])
