"""Check an analytic backward against central finite differences, in float64.

For a function y = f(x₁, …, xₖ) and a random upstream gradient v of y's shape, take the
scalar L = Σ v·y. Then ∂L/∂xᵢ[j] is checked against

    (L(xᵢ[j] + ε) - L(xᵢ[j] - ε)) / 2ε          (error O(ε²))

for every element j of every input (and of the parameters given). The upstream gradient
must be random: with v = 1, L is the sum of the outputs, and for a softmax or a BatchNorm
that sum does not depend on x, so a backward returning zeros would pass.

mode="directional" compares vᵀJu for one random direction u instead: two forward passes
in all, for inputs too large to perturb one element at a time.

gradgradcheck checks second derivatives the same way: it runs gradcheck on the function
that returns fn's gradient, computed with create_graph=True.
"""
import numpy

from . import backend
from .random import get_rng_state, set_rng_state
from . import functional as F
from .tensor import Tensor, enable_grad, grad, no_grad


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree."""


def gradcheck(fn, inputs, params=(), *, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full",
              seed=0, raise_exception=True):
    """True if fn's backward matches finite differences for every input and parameter.

    fn      callable taking the inputs (tensors) and returning one tensor
    inputs  tensors or arrays; those with requires_grad=False (and integer arrays) are
            passed as they are and not checked; others become float64 leaves
    params  tensors fn uses besides its inputs (a layer's parameters): checked in place,
            they must already be float64 (module.to(dtype=minigrad.float64))
    mode    "full" (every element) or "directional" (vᵀJu for a random u)
    Random ops in fn (Dropout) see the same random numbers on every call.
    """
    inputs = [_as_float64_leaf(x) for x in inputs]
    checked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    named = [(f"input {i}", x) for i, x in enumerate(inputs) if x in checked]
    named += [(f"parameter {i}", p) for i, p in enumerate(params)]
    for name, t in named:
        if t.dtype != numpy.float64:
            raise TypeError(f"gradcheck: {name} is {t.dtype}; finite differences need "
                            "float64 (convert it with .to(dtype=minigrad.float64))")
        if not t.data.flags.c_contiguous:
            raise ValueError(f"gradcheck: {name} is not C-contiguous; perturbing it in place "
                             "needs a contiguous array")
        t.grad = None

    rng_state = get_rng_state()

    def run():
        set_rng_state(rng_state)  # the same dropout mask on every call
        return fn(*inputs)

    y = run()
    if y.dtype != numpy.float64:
        raise TypeError(f"gradcheck: fn returned {y.dtype}; it must compute in float64")
    xp = backend.get_array_module(y.data)
    v = xp.asarray(numpy.random.default_rng(seed).standard_normal(y.shape))

    def loss():
        with no_grad():
            return float((run().data * v).sum())

    y.backward(v)
    analytic = [t.grad if t.grad is not None else xp.zeros_like(t.data) for _, t in named]
    if mode == "full":
        return _check_each_element(named, analytic, loss, eps, atol, rtol, raise_exception)
    if mode == "directional":
        return _check_direction(named, analytic, loss, eps, atol, rtol, seed, raise_exception)
    raise ValueError(f"gradcheck: mode must be 'full' or 'directional', not {mode!r}")


def gradgradcheck(fn, inputs, params=(), *, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full",
                  seed=0, raise_exception=True):
    """True if fn's gradient computed with create_graph=True is right and so are its own
    derivatives, against finite differences.

    With a random upstream gradient v (a float64 leaf of fn's output shape), the gradient
        G(inputs, v) = ∂(Σ v·fn(inputs)) / ∂(inputs and params)     (create_graph=True)
    must first equal the one backward() computes on raw arrays (backward_graph and
    backward agree; gradcheck checks backward). G is a function of the inputs, the
    parameters and v, and gradcheck then checks G's backward for all of them, with its own
    random upstream gradient: the derivative with respect to v checks that each
    backward_graph keeps gy in its graph, the others the second derivatives. The arguments
    are gradcheck's; a failure names G's input len(inputs) as the upstream gradient v.
    """
    inputs = [_as_float64_leaf(x) for x in inputs]
    checked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad] + list(params)
    rng_state = get_rng_state()

    def gradient(xs, wrt, gy, create_graph):
        set_rng_state(rng_state)  # the same dropout mask on every call
        with enable_grad():  # gradcheck's finite differences run G under no_grad
            return grad(fn(*xs), wrt, grad_outputs=gy, create_graph=create_graph)

    with no_grad():
        out = fn(*inputs)  # for its shape and backend
    v = Tensor._wrap(backend.as_array_like(
        numpy.random.default_rng(seed + 2).standard_normal(out.shape), out.data), requires_grad=True)
    by_graph = gradient(inputs, checked, v, create_graph=True)
    by_arrays = gradient(inputs, checked, v, create_graph=False)
    for i, (g, expected) in enumerate(zip(by_graph, by_arrays)):
        if not _close(g.data, expected.data, atol, rtol):
            error = float(backend.get_array_module(g.data).abs(g.data - expected.data).max())
            return _fail(f"gradgradcheck: the create_graph gradient of checked tensor {i} (of shape "
                         f"{g.shape}) differs from backward()'s by up to {error:.3g}: a "
                         "backward_graph computes another gradient than its backward", raise_exception)
    set_rng_state(rng_state)  # gradcheck's runs see the same random numbers

    def first_derivatives(*args):
        *xs, gy = args
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad] + list(params)
        return F.concatenate([g.reshape(-1) for g in gradient(xs, wrt, gy, create_graph=True)])

    try:
        return gradcheck(first_derivatives, inputs + [v], params, eps=eps, atol=atol, rtol=rtol,
                         mode=mode, seed=seed, raise_exception=raise_exception)
    except GradcheckError as error:
        raise GradcheckError(f"gradgradcheck: {error} (the function checked is fn's gradient; "
                             f"input {len(inputs)} is its upstream gradient)") from None


def _as_float64_leaf(x):
    if isinstance(x, Tensor):
        if not x.requires_grad:
            return x
        # A copy: the same tensor passed twice (fn(x, x)) must give two independent leaves.
        xp = backend.get_array_module(x.data)
        return Tensor._wrap(xp.array(x.data, dtype=numpy.float64, order="C"), requires_grad=True)
    if numpy.issubdtype(numpy.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype, numpy.integer):
        return x
    return Tensor(x, requires_grad=True, dtype=numpy.float64)


def _check_each_element(named, analytic, loss, eps, atol, rtol, raise_exception):
    for (name, t), grad in zip(named, analytic):
        numeric = backend.get_array_module(t.data).zeros_like(t.data)
        flat, numeric_flat = t.data.reshape(-1), numeric.reshape(-1)
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = loss()
            flat[j] = original - eps
            minus = loss()
            flat[j] = original
            numeric_flat[j] = (plus - minus) / (2 * eps)
        if not _close(grad, numeric, atol, rtol):
            return _fail(_report(name, t, grad, numeric, atol, rtol), raise_exception)
    return True


def _check_direction(named, analytic, loss, eps, atol, rtol, seed, raise_exception):
    rng = numpy.random.default_rng(seed + 1)
    directions = [backend.get_array_module(t.data).asarray(rng.standard_normal(t.shape))
                  for _, t in named]
    analytic_dot = sum(float((g * u).sum()) for g, u in zip(analytic, directions))

    originals = [t.data.copy() for _, t in named]

    def shifted_loss(step):
        for (_, t), u, x0 in zip(named, directions, originals):
            t.data[...] = x0 + step * u
        value = loss()
        for (_, t), x0 in zip(named, originals):
            t.data[...] = x0  # restored exactly: x + εu - εu may differ from x in the last bit
        return value

    numeric_dot = (shifted_loss(eps) - shifted_loss(-eps)) / (2 * eps)
    if abs(analytic_dot - numeric_dot) <= atol + rtol * abs(numeric_dot):
        return True
    names = ", ".join(name for name, _ in named)
    return _fail(f"gradcheck (directional) failed for {names}: analytic vᵀJu = "
                 f"{analytic_dot:.8g}, numeric = {numeric_dot:.8g}, abs error "
                 f"{abs(analytic_dot - numeric_dot):.3g} (atol={atol}, rtol={rtol})",
                 raise_exception)


def _close(analytic, numeric, atol, rtol):
    xp = backend.get_array_module(numeric)
    return bool(xp.all(xp.abs(analytic - numeric) <= atol + rtol * xp.abs(numeric)))


def _report(name, t, analytic, numeric, atol, rtol):
    a, n = backend.to_numpy(analytic), backend.to_numpy(numeric)
    excess = numpy.abs(a - n) - (atol + rtol * numpy.abs(n))
    worst = numpy.unravel_index(numpy.argmax(excess), n.shape) if n.ndim else ()
    abs_err = abs(a[worst] - n[worst])
    rel_err = abs_err / max(abs(n[worst]), 1e-300)
    bad = int((excess > 0).sum())
    return (f"gradcheck failed for {name} of shape {t.shape}: {bad} of {n.size} elements "
            f"off; worst at index {tuple(int(i) for i in worst)}: analytic {a[worst]:.8g}, "
            f"numeric {n[worst]:.8g}, abs error {abs_err:.3g}, rel error {rel_err:.3g} "
            f"(atol={atol}, rtol={rtol})")


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False
