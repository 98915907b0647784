"""The engine: Tensor, the Function every op is made of, and reverse-mode backward().

A Tensor wraps a backend array (`.data`). When an op runs on tensors that require
gradients, its output remembers the op and the inputs (`_ctx`): that is the graph.
`backward()` walks it from the output to the leaves in reverse topological order and
calls each op's `backward`, adding up the gradients of tensors used more than once.

Invariant: gradients are never modified in place, so an op's backward may return views
(a reshape of gy, gy itself) without copying.

Higher-order gradients (docs/higher-order.md): with create_graph=True the same walk calls
each op's `backward_graph`, which computes the gradient with ops on tensors, so the
gradient is itself a graph that can be differentiated again. `grad()` returns gradients
instead of adding them to `.grad`.
"""
import contextlib

import numpy

from . import backend, host_access
from .strict import BackendMixError

float32 = numpy.float32
float64 = numpy.float64
DEFAULT_DTYPE = float32

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Run ops without recording a graph (sampling, evaluation, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Record a graph even inside no_grad() (a create_graph backward needs one)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, True
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Function:
    """One differentiable operation. Subclass it and write two methods on raw arrays:

        forward(self, *xs)  -> y     compute the output; keep on `self` only what
                                     backward needs (self.mask = x > 0)
        backward(self, gy)  -> gx    given dL/dy, return dL/dx for each input, as a tuple
                                     when there are several (None for one that needs none)

    Call it as `MyOp.apply(x, y, **params)`: tensors (or numbers) are the inputs, keyword
    params become attributes of the op before forward runs. `self.needs_input_grad`
    tells backward which gradients are wanted.

    For second and higher derivatives an op also defines, right below backward,

        backward_graph(self, gy, *xs, y) -> gx     the same gradient computed with ops on
                                                    Tensors: gy, the input tensors xs and
                                                    the output tensor y
    used only by backward(create_graph=True) and grad(create_graph=True).
    """

    def __init__(self, **params):
        self.__dict__.update(params)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def backward_graph(self, gy, *xs, y):
        raise NotImplementedError(
            f"{type(self).__name__} has no second derivative: create_graph=True needs "
            f"{type(self).__name__}.backward_graph (its gradient written with ops on tensors; "
            "see docs/higher-order.md)")

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = _as_tensors(inputs, cls.__name__)
        op = cls(**params)
        op.needs_input_grad = tuple(t.requires_grad for t in tensors)
        y = op.forward(*[t.data for t in tensors])
        if isinstance(y, numpy.generic):  # NumPy reductions return scalars, not 0-d arrays
            y = backend.as_array_like(y, tensors[0].data)
        out = Tensor._wrap(y)
        if _grad_enabled and any(op.needs_input_grad):
            out.requires_grad = True
            out._ctx = (op, tensors)
        return out


def _as_tensors(inputs, op_name):
    """Inputs as tensors on one backend; numbers become constants of the tensors' dtype."""
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    if not tensors:
        raise TypeError(f"{op_name}: needs at least one Tensor input")
    first = tensors[0].data
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs if not _is_number(x)]
    if any(type(a) is not type(first) for a in arrays):
        names = [backend.backend_of(a) for a in arrays]
        if len(set(names)) > 1:
            raise BackendMixError(
                f"{op_name} got arrays on different backends ({' and '.join(sorted(set(names)))}); "
                f"move tensors with .to('{names[0]}') first")
    if len(tensors) == len(inputs):
        return inputs
    return tuple(x if isinstance(x, Tensor)
                 else Tensor._wrap(backend.as_array_like(x, first, first.dtype)) for x in inputs)


def _is_number(x):
    return isinstance(x, (int, float, numpy.generic))


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    Tensor(data, requires_grad=False, dtype=None, backend_name=None): `data` is a number,
    a (nested) list or an array; it is copied to the backend (the active one unless `data`
    is already on a device) in `dtype` (float32 unless asked otherwise).
    """

    __slots__ = ("data", "requires_grad", "grad", "_ctx", "_freed", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor calls Tensor.__radd__
    __array_ufunc__ = None  # numpy.exp(tensor) raises instead of making an object array

    def __init__(self, data, requires_grad=False, dtype=None, backend_name=None):
        if isinstance(data, Tensor):
            data = data.data
        kind = _kind(data)
        name = backend_name or (kind if kind in ("cupy", "strict") else backend.get_backend())
        if host_access.step_pool is not None and (kind is None or (kind == "numpy" and name != "numpy")):
            host_access.refuse(f"Tensor({type(data).__name__}) copies host data to the device",
                               host_access.COPY_INSTEAD)
        if kind not in (None, "numpy", name):
            data = backend.to_numpy(data)
        # A copy (`array`, not `asarray`): the tensor must not share memory with the
        # caller's array, which in-place updates (optimizers, gradcheck) would change.
        self.data = backend.backend_module(name).array(data, dtype=dtype or DEFAULT_DTYPE)
        self.requires_grad = requires_grad
        self.grad = None
        self._ctx = None
        self._freed = False

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A tensor around an array as it is (no copy, no dtype change): used by ops."""
        t = cls.__new__(cls)
        t.data, t.requires_grad, t.grad, t._ctx, t._freed = array, requires_grad, None, None, False
        return t

    # ------------------------------------------------------------------ properties
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.backend_of(self.data), doc="'numpy', 'cupy' or 'strict'")
    is_leaf = property(lambda self: self._ctx is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        where = "" if self.device == "numpy" else f", device='{self.device}'"
        body = numpy.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{where}{grad})"

    def numpy(self):
        """The values as a host NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor of one element, not shape {self.shape}")
        return self.numpy().item()

    def to(self, backend_name=None, dtype=None):
        """This tensor on another backend and/or dtype, as a new leaf."""
        data = self.data if backend_name is None else backend.to_backend(self.data, backend_name)
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        return Tensor._wrap(data, self.requires_grad)

    def detach(self):
        """The same values, cut from the graph: no gradient flows back through it."""
        return Tensor._wrap(self.data)

    def zero_grad(self):
        self.grad = None

    # ------------------------------------------------------------------ autodiff
    def backward(self, gradient=None, retain_graph=None, create_graph=False, *, grad=None,
                 inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`, weighted by `gradient`.

        `gradient` (also accepted as `grad=`) is the upstream gradient, of self's shape; it
        may be left out for a tensor of one element. The graph is freed afterwards unless
        `retain_graph=True` (which defaults to create_graph). With `create_graph=True` the
        leaves' `.grad` are Tensors with a graph, to be differentiated again; otherwise
        they are raw arrays. `inputs` (a list of Tensors, as PyTorch's): accumulate into
        their `.grad` only, and skip the work that leads elsewhere (a GAN's generator step
        then computes no gradient for the discriminator's weights).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad; no op "
                               "that produced it had an input with requires_grad=True")
        gradient = _upstream_gradient(self, grad if gradient is None else gradient,
                                      create_graph, "backward()")
        retain_graph = _retain(retain_graph, create_graph)
        if inputs is None:
            _backpropagate([self], [gradient], retain_graph, create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        found = _backpropagate([self], [gradient], retain_graph, create_graph,
                               wanted={id(x) for x in inputs})
        for x in {id(x): x for x in inputs}.values():  # each once, however often listed
            g = found.get(id(x))
            if g is not None:
                x.grad = g if x.grad is None else x.grad + g

    # ------------------------------------------------------------------ operators
    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, exponent): return F.pow(self, exponent)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __neg__(self): return F.neg(self)
    def __getitem__(self, index): return F.getitem(self, index)

    # ------------------------------------------------------------------ methods
    def sum(self, axis=None, keepdims=False): return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return F.logsumexp(self, axis, keepdims)
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)
    def clip(self, low, high): return F.clip(self, low, high)
    def reshape(self, *shape): return F.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return F.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    T = property(lambda self: F.transpose(self))


def _check_grad(op, x, gx):
    """A gradient an op returned, checked against its input (a custom op's usual bug)."""
    if isinstance(gx, numpy.generic):  # NumPy turns 0-d results into scalars
        gx = backend.as_array_like(gx, x.data)
    if gx.shape != x.shape:
        raise RuntimeError(f"{type(op).__name__}.backward returned a gradient of shape "
                           f"{gx.shape} for an input of shape {x.shape}")
    if gx.dtype != x.dtype:
        gx = gx.astype(x.dtype)
    return gx


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """The gradients of `outputs` with respect to `inputs`, as a tuple of Tensors, one per
    input; `.grad` is left untouched.

    outputs       a Tensor or a list of them; their gradients add up
    inputs        a Tensor or a list of them (leaves or not)
    grad_outputs  the upstream gradient of each output (a Tensor, array or number, or a
                  list); may be left out for outputs of one element
    create_graph  return gradients with a graph, to differentiate again
    retain_graph  keep the graph for another pass; defaults to create_graph, as in PyTorch
    An input that the outputs do not depend on gets a gradient of zeros.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    pairs = [(y, _upstream_gradient(y, g, create_graph, "grad()"))
             for y, g in zip(outputs, grad_outputs) if y.requires_grad]
    found = {}
    if pairs:
        found = _backpropagate([y for y, _ in pairs], [g for _, g in pairs],
                               _retain(retain_graph, create_graph), create_graph,
                               wanted={id(x) for x in inputs})
    result = []
    for x in inputs:
        g = found.get(id(x))
        if g is None:  # the outputs do not depend on x
            g = Tensor._wrap(backend.get_array_module(x.data).zeros_like(x.data))
        result.append(g if isinstance(g, Tensor) else Tensor._wrap(g))
    return tuple(result)


def _retain(retain_graph, create_graph):
    if retain_graph is None:
        return create_graph
    if create_graph and not retain_graph:
        raise ValueError("create_graph=True builds the new graph on the old one, which must be "
                         "kept: leave retain_graph out or set it to True")
    return retain_graph


def _upstream_gradient(y, g, create_graph, caller):
    """The upstream gradient of y: a raw array, or a Tensor (keeping its graph) for
    create_graph; ones for a tensor of one element when g is None."""
    if g is None:
        if y.size != 1:
            raise RuntimeError(f"{caller}: a tensor of shape {y.shape} needs an "
                               "upstream gradient of that shape: backward(grad)")
        g = backend.get_array_module(y.data).ones_like(y.data)
    elif isinstance(g, Tensor) and create_graph:  # kept as it is: a cast would cut its graph
        if g.dtype != y.dtype or backend.backend_of(g.data) != backend.backend_of(y.data):
            raise TypeError(f"{caller}: with create_graph=True an upstream gradient Tensor must "
                            f"have the tensor's dtype and backend ({y.dtype} on "
                            f"{backend.backend_of(y.data)}), got {g.dtype} on "
                            f"{backend.backend_of(g.data)}; convert it with .to(...) first")
    else:  # any value (a Tensor too) takes y's dtype and backend
        g = backend.as_array_like(g, y.data, y.dtype)
    if g.shape != y.shape:
        raise ValueError(f"{caller}: upstream gradient of shape {g.shape} "
                         f"for a tensor of shape {y.shape}")
    return Tensor._wrap(g) if create_graph and not isinstance(g, Tensor) else g


def _backpropagate(roots, root_grads, retain_graph, create_graph, wanted=None):
    """The reverse walk of backward() and grad(): push each tensor's gradient back to its
    inputs through its op, in reverse topological order, from the roots to the leaves.

    Gradients are raw arrays and each op's `backward` computes them; with create_graph
    they are Tensors and `backward_graph` computes them with ops, so they carry a graph.
    Without `wanted`, leaf gradients are added to `.grad`. With `wanted` (ids of tensors,
    for grad()) their gradients are returned in a dict by id and `.grad` is not touched;
    only the ops on a path to a wanted tensor run, asked only for the gradients on it.
    """
    grads = {}  # gradient of each tensor still waiting to be used
    for root, g in zip(roots, root_grads):
        grads[id(root)] = grads[id(root)] + g if id(root) in grads else g
    order = _topological_order(roots)
    if wanted is not None:
        found, leads = {}, _leading_to(order, wanted)
    with enable_grad() if create_graph else contextlib.nullcontext():
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if wanted is not None:
                if id(t) in wanted:
                    found[id(t)] = g
                if t._ctx is None or id(t) not in leads:
                    continue
            elif t._ctx is None:  # a leaf: gradients add up across backward() calls
                t.grad = g if t.grad is None else t.grad + g
                continue
            op, inputs = t._ctx
            if wanted is None:
                gxs = op.backward_graph(g, *inputs, y=t) if create_graph else op.backward(g)
            else:
                gxs = _backward_towards(leads, op, g, inputs, t, create_graph)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, gx in zip(inputs, gxs):
                if gx is None or not x.requires_grad:
                    continue
                gx = _check_graph_grad(op, x, gx) if create_graph else _check_grad(op, x, gx)
                grads[id(x)] = grads[id(x)] + gx if id(x) in grads else gx
            if not retain_graph:
                t._ctx, t._freed = None, True
    return found if wanted is not None else None


def _backward_towards(leads, op, g, inputs, y, create_graph):
    """op's backward (or backward_graph), asked only for the gradients of the inputs that
    lead to a wanted tensor (grad() of a critic w.r.t. its input skips the weights')."""
    asked = op.needs_input_grad
    op.needs_input_grad = tuple(n and id(x) in leads for n, x in zip(asked, inputs))
    try:
        return op.backward_graph(g, *inputs, y=y) if create_graph else op.backward(g)
    finally:
        op.needs_input_grad = asked


def _leading_to(order, wanted):
    """Ids of the tensors in `order` (inputs before outputs) with a path to a wanted one."""
    leads = set()
    for t in order:
        if id(t) in wanted or (t._ctx is not None and any(id(x) in leads for x in t._ctx[1])):
            leads.add(id(t))
    return leads


def _check_graph_grad(op, x, gx):
    """_check_grad for a gradient Tensor of backward_graph; a cast would cut the graph."""
    if not isinstance(gx, Tensor):  # a constant gradient (an array, or a NumPy scalar)
        gx = Tensor._wrap(backend.as_array_like(gx, x.data))
    if gx.shape != x.shape:
        raise RuntimeError(f"{type(op).__name__}.backward_graph returned a gradient of shape "
                           f"{gx.shape} for an input of shape {x.shape}")
    if gx.dtype != x.dtype:
        raise RuntimeError(f"{type(op).__name__}.backward_graph returned a {gx.dtype} gradient "
                           f"for a {x.dtype} input; give the op's inputs one dtype")
    return gx


def _topological_order(roots):
    """Tensors reachable from `roots` through ops, each after all of its inputs.

    Iterative depth-first search: a chain of any length fits, no recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        if t._freed:
            raise RuntimeError("backward(): part of this graph was already freed by an earlier "
                               "backward(); pass retain_graph=True to the first call to keep it")
        visited.add(id(t))
        stack.append((t, True))
        if t._ctx is not None:
            stack.extend((x, False) for x in t._ctx[1] if x.requires_grad and id(x) not in visited)
    return order


def _kind(data):
    """The backend an array lives on, or None for a number or a list."""
    try:
        return backend.backend_of(data)
    except TypeError:
        return None


def tensor(data, requires_grad=False, dtype=None, backend=None):
    """Tensor(data, ...) as a function, as in NumPy's `array`."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, backend_name=backend)


from . import functional as F  # noqa: E402  (ops need Tensor; Tensor's operators need the ops)
