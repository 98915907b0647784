"""Where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU, and "strict" for tests.

Every op finds its array module with `xp = get_array_module(x)` and calls `xp.exp`,
`xp.zeros`, ... so the same code runs on either device. Three backends:

- "numpy"  the default; plain `numpy.ndarray`.
- "cupy"   CuPy arrays on the GPU, imported only when asked for.
- "strict" NumPy arrays of a subclass that refuses to meet a plain NumPy array, as a CuPy
           array would. The test suite runs under it (MINIGRAD_TEST_BACKEND=strict) so that
           a host array leaking into the device path fails on a machine without a GPU.
"""
import numpy

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


def _require_cupy():
    cupy = _load_cupy()
    if cupy is None:
        raise RuntimeError(f"minigrad: backend 'cupy' unavailable: {_cupy_error}")
    return cupy


# ----------------------------------------------------------------------------- strict
class BackendMixError(TypeError):
    """Arrays of two backends met in one operation."""


class StrictArray(numpy.ndarray):
    """A NumPy array that, like a CuPy array, refuses to be mixed with plain NumPy arrays."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse_host(ufunc.__name__, inputs + kwargs.get("out", ()))
        inputs = tuple(_plain(a) for a in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(a) for a in kwargs["out"])
        return _strict(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if numpy.ndarray in types:
            raise BackendMixError(
                f"numpy.{func.__name__} got a host NumPy array and a device ('strict') array; "
                "create arrays with the op's `xp` (get_array_module), not with numpy")
        # Run NumPy's own code on plain views, so its inner calls are not checked again.
        args, kwargs = _plain(args), {k: _plain(v) for k, v in kwargs.items()}
        return _strict(func(*args, **kwargs))

    def __getitem__(self, index):
        _refuse_host("indexing", index if isinstance(index, tuple) else (index,))
        return super().__getitem__(index)

    def __setitem__(self, index, value):
        _refuse_host("item assignment", (index if isinstance(index, tuple) else (index,)) + (value,))
        return super().__setitem__(index, value)


def _refuse_host(what, arrays):
    for a in arrays:
        if type(a) is numpy.ndarray:
            raise BackendMixError(
                f"{what} got a host NumPy array of shape {a.shape} and a device ('strict') "
                "array; move it with xp.asarray(...) or create it with the op's `xp`")


def _plain(a):
    """StrictArrays (also inside tuples and lists) as plain NumPy views of the same memory."""
    if isinstance(a, StrictArray):
        return a.view(numpy.ndarray)
    if isinstance(a, (tuple, list)):
        return type(a)(_plain(x) for x in a)
    return a


def _strict(result):
    if isinstance(result, numpy.generic):  # a full reduction: 0-d, as CuPy's, not a host scalar
        result = numpy.asarray(result)
    if type(result) is numpy.ndarray:
        return result.view(StrictArray)
    if isinstance(result, (tuple, list)):
        return type(result)(_strict(r) for r in result)
    return result


class _StrictModule:
    """`numpy` as seen from the strict backend: every function returns StrictArrays."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if isinstance(attr, type(numpy)):
            return _StrictModule(attr)
        if isinstance(attr, (type, numpy.ufunc)) or not callable(attr):
            return attr  # dtypes, constants; ufuncs already dispatch to StrictArray

        def strict_function(*args, **kwargs):
            return _strict(attr(*args, **kwargs))
        return strict_function


strict = _StrictModule(numpy)


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
    """
    if hasattr(value, "requires_grad"):  # a Tensor (tensor.py imports this module, not back)
        value = value.data
    name = backend_of(like)
    if hasattr(value, "shape") and not isinstance(value, numpy.generic) and backend_of(value) != name:
        value = to_numpy(value)
    return backend_module(name).asarray(value, dtype=dtype)


def to_numpy(array):
    """A plain host NumPy array, whatever backend `array` is on."""
    kind = backend_of(array)
    if kind == "cupy":
        return array.get()
    if kind == "strict":
        return array.view(numpy.ndarray)
    return numpy.asarray(array)


# ----------------------------------------------------------------------------- randomness
_generators = {}  # backend name -> random generator; NumPy and strict share numpy's
_seed = None


class SplitMix64:
    """CuPy's random numbers: the stream of SplitMix64 (Steele, Lea and Flood, 2014), whose
    n-th number is a pure function of the seed and n, so its whole state is two integers
    that checkpoints and gradcheck save and restore exactly (CuPy's RandomState cannot
    export its state). Every draw is a few whole-array integer ops on the GPU; they run on
    NumPy too, which is how the tests check the stream on a machine without a GPU.

        x_n = mix(seed + (n + 1) * GAMMA) over 64-bit integers, mix a fixed bit scrambler
        uniform: the top 24 (float32) or 53 (float64) bits of x_n as a fraction of 1
        normal: Box-Muller on two uniforms, sqrt(-2 log(1 - u1)) * cos(2 pi u2)
    """
    GAMMA = numpy.uint64(0x9E3779B97F4A7C15)
    M1, M2 = numpy.uint64(0xBF58476D1CE4E5B9), numpy.uint64(0x94D049BB133111EB)

    def __init__(self, xp, seed, counter=0):
        self.xp, self.seed, self.counter = xp, int(seed) % 2**64, int(counter)

    def _bits(self, size):
        """The next `size` 64-bit numbers of the stream, as a uint64 array."""
        xp, u64 = self.xp, numpy.uint64
        n = xp.arange(1, size + 1, dtype=xp.uint64) + u64(self.counter % 2**64)
        self.counter += size
        z = n * self.GAMMA + u64(self.seed)  # wraps mod 2**64, as the algorithm wants
        z = (z ^ (z >> u64(30))) * self.M1
        z = (z ^ (z >> u64(27))) * self.M2
        return z ^ (z >> u64(31))

    def random(self, shape, dtype):
        bits = 24 if numpy.dtype(dtype) == numpy.float32 else 53
        top = self._bits(_size(shape)) >> numpy.uint64(64 - bits)
        return (top.astype(dtype) * numpy.dtype(dtype).type(2.0 ** -bits)).reshape(shape)

    def standard_normal(self, shape, dtype):
        u = self.random((2, _size(shape)), numpy.float64)
        normal = self.xp.sqrt(-2 * self.xp.log1p(-u[0])) * self.xp.cos(2 * numpy.pi * u[1])
        return normal.astype(dtype).reshape(shape)


def _size(shape):
    return int(numpy.prod(shape, dtype=numpy.int64))


def _generator_key(name):
    return "cupy" if name == "cupy" else "numpy"


def manual_seed(seed):
    """Seed every random source minigrad draws from (and the backend's global RNG)."""
    global _seed
    _seed = int(seed)
    _generators.clear()
    numpy.random.seed(_seed % 2**32)
    if _cupy is not None:
        _cupy.random.seed(_seed)


def generator(name=None):
    """The random generator of a backend: numpy.random.Generator, or SplitMix64 on CuPy."""
    key = _generator_key(name or _active)
    if key not in _generators:
        if key == "cupy":
            seed = _seed if _seed is not None else numpy.random.SeedSequence().entropy
            _generators[key] = SplitMix64(_require_cupy(), seed)
        else:
            _generators[key] = numpy.random.default_rng(_seed)
    return _generators[key]


def random_normal(shape, dtype, name=None):
    """Standard-normal samples of `dtype` drawn on the backend `name`."""
    name = name or _active
    sample = generator(name).standard_normal(shape, dtype=dtype)
    return sample if name == "cupy" else backend_module(name).asarray(sample)


def random_uniform(shape, dtype, name=None):
    """Uniform [0, 1) samples of `dtype` drawn on the backend `name`."""
    name = name or _active
    sample = generator(name).random(shape, dtype=dtype)
    return sample if name == "cupy" else backend_module(name).asarray(sample)


def get_rng_state():
    """The state of every generator, as plain JSON-able data (for checkpoints)."""
    state = {"numpy": generator("numpy").bit_generator.state}
    if _cupy is not None:  # CuPy is loaded, so draws on it may follow
        cupy_stream = generator("cupy")
        state["cupy"] = {"seed": cupy_stream.seed, "counter": cupy_stream.counter}
    return state


def set_rng_state(state):
    generator("numpy").bit_generator.state = state["numpy"]
    if "cupy" in state and _load_cupy() is not None:  # a GPU run resumed on the CPU skips it
        _generators["cupy"] = SplitMix64(_cupy, state["cupy"]["seed"], state["cupy"]["counter"])
