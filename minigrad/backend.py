"""Where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU, and "strict" for tests.

Every op finds its array module with `xp = get_array_module(x)` and calls `xp.exp`,
`xp.zeros`, ... so the same code runs on either device. Three backends:

- "numpy"  the default; plain `numpy.ndarray`.
- "cupy"   CuPy arrays on the GPU, imported only when asked for.
- "strict" NumPy arrays of a subclass that refuses to meet a plain NumPy array, as a CuPy
           array would (minigrad/strict.py). The test suite runs under it.

This module loads CuPy and chooses among the three; random numbers are minigrad/random.py's.
"""
import numpy

from . import host_access
from .strict import BackendMixError, StrictArray, strict

BACKENDS = ("numpy", "cupy", "strict")

_active = "numpy"
_cupy = None
_cupy_error = None  # why `import cupy` failed, kept to explain it later


# ----------------------------------------------------------------------------- cupy
def _load_cupy():
    """Import CuPy once and check that a GPU is visible; remember why if not."""
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    try:
        import cupy
    except ImportError as e:
        # The extras of this checkout: "minigrad" on PyPI is an unrelated project.
        _cupy_error = (f"CuPy is not installed ({e}). Install the minigrad[cuda12] or "
                       "minigrad[cuda13] extra for your CUDA version, from the minigrad "
                       "checkout: pip install -e '.[cuda12]' (or '.[cuda13]').")
        return None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        count, reason = 0, f" ({e})"
    else:
        reason = ""
    if count == 0:
        _cupy_error = (f"CuPy is installed but no NVIDIA GPU is visible{reason}. "
                       "Use the numpy backend on this machine.")
        return None
    _cupy = cupy
    return cupy


def cupy_available():
    return _load_cupy() is not None


def loaded_cupy():
    """The CuPy module if a backend has loaded it already, else None; never imports it."""
    return _cupy


def _require_cupy():
    cupy = _load_cupy()
    if cupy is None:
        raise RuntimeError(f"minigrad: backend 'cupy' unavailable: {_cupy_error}")
    return cupy


# ----------------------------------------------------------------------------- choosing
def set_backend(name):
    """Make `name` ("numpy", "cupy" or "strict") the backend new tensors are created on."""
    global _active
    if name not in BACKENDS:
        raise ValueError(f"minigrad: unknown backend {name!r}; choose one of {BACKENDS}")
    if name == "cupy":
        _require_cupy()
    _active = name


def get_backend():
    return _active


def backend_module(name=None):
    """The array module (`xp`) of a backend, the active one by default."""
    name = name or _active
    if name == "numpy":
        return numpy
    if name == "strict":
        return strict
    if name == "cupy":
        return _require_cupy()
    raise ValueError(f"minigrad: unknown backend {name!r}; choose one of {BACKENDS}")


def backend_of(array):
    """The name of the backend an array lives on."""
    if isinstance(array, StrictArray):
        return "strict"
    if isinstance(array, (numpy.ndarray, numpy.generic)):
        return "numpy"
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cupy"
    raise TypeError(f"minigrad: {type(array).__name__} is not an array of any backend")


def get_array_module(*arrays):
    """The `xp` for these arrays; an error if they live on different backends."""
    names = {backend_of(a) for a in arrays}
    if len(names) > 1:
        raise BackendMixError(
            "arrays from different backends met: " + " and ".join(sorted(names))
            + "; move tensors with .to(backend) first")
    return backend_module(names.pop() if names else None)


def to_backend(array, name):
    """A copy of `array` on backend `name` (the array itself if it is there already).

    Always a copy, also between numpy and strict that could share memory: a move to
    the GPU cannot, and strict must not let code rely on what CuPy cannot do."""
    if backend_of(array) == name:
        return array
    return backend_module(name).array(to_numpy(array))


def as_array_like(value, like, dtype=None):
    """`value` as an array on the backend of the array `like`, in `dtype` if given: the
    one way values that are not inputs of an op (targets, masks, indices, constants,
    upstream gradients) reach an op's backend.

    value: a Tensor (its .data), an array of any backend (one on another backend goes
    through the host: CuPy refuses an implicit move), a number or a (nested) list.
    No copy when value is already an array of that backend and dtype (xp.asarray).
    A number on a device fills a 0-d array there (`xp.full`, the number a kernel argument),
    not a host-to-device copy: a captured step may do it (`x * 2`), not copy a list in.
    """
    if hasattr(value, "requires_grad"):  # a Tensor (tensor.py imports this module, not back)
        value = value.data
    name = backend_of(like)
    if name != "numpy" and isinstance(value, (int, float, numpy.generic)):
        return backend_module(name).full((), value, dtype=dtype)
    if hasattr(value, "shape") and not isinstance(value, numpy.generic) and backend_of(value) != name:
        value = value if backend_of(value) == "numpy" else to_numpy(value)  # on the host already
    elif host_access.step_pool is not None and isinstance(value, (list, tuple)):
        host_access.refuse("as_array_like of a list copies it from the host to the device",
                           host_access.COPY_INSTEAD)
    return backend_module(name).asarray(value, dtype=dtype)


def to_numpy(array):
    """A plain host NumPy array, whatever backend `array` is on (Tensor.numpy(), .item())."""
    if host_access.step_pool is not None:
        host_access.refuse("reading a device array on the host (to_numpy, Tensor.numpy(), "
                           "Tensor.item())", host_access.READ_INSTEAD)
    kind = backend_of(array)
    if kind == "cupy":
        return array.get()
    if kind == "strict":
        return array.view(numpy.ndarray)
    return numpy.asarray(array)
