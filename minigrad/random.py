"""Random numbers on every backend, seeded by one call, with a state a checkpoint can hold.

Library code draws with `random_normal(shape, dtype)` and `random_uniform(shape, dtype)`, on
the active backend or the one named. `manual_seed(s)` seeds every generator; `get_rng_state()`
and `set_rng_state()` save and restore them all as plain JSON-able data.

Two kinds of generator:
- numpy.random.Generator, on the host, shared by the numpy and strict backends (the default
  there: fast on a CPU, and the stream every run on them has drawn);
- SplitMix64, on the device: CuPy's always, and numpy's and strict's after
  use_splitmix64(True). Its position is a device counter that each draw advances in place,
  so a step captured into a CUDA graph draws new numbers at every replay (docs/capture.md);
  the CPU check of a captured step runs with it.

(A module named `random` inside the package hides nothing: imports are absolute, and the
engine imports its functions by name, `from ..random import random_normal`.)
"""
import numpy

from . import backend, host_access, kernels

_generators = {}  # "numpy": numpy's Generator; "cupy", "numpy-splitmix64", ...: SplitMix64s
_seed = None
_splitmix64_everywhere = False  # numpy and strict draw from SplitMix64 too (use_splitmix64)


class SplitMix64:
    """The device's random numbers: the stream of SplitMix64 (Steele, Lea and Flood, 2014),
    whose n-th number is a pure function of the seed and n, so its whole state is two integers
    that checkpoints and gradcheck save and restore exactly (CuPy's RandomState cannot export
    its state). Every draw is a few whole-array integer ops on the device; they run on NumPy
    too, which is how the tests check the stream on a machine without a GPU.

        x_n = mix(seed + (n + 1) * GAMMA) over 64-bit integers, mix a fixed bit scrambler
        uniform: the top 24 (float32) or 53 (float64) bits of x_n as a fraction of 1
        normal: Box-Muller on two uniforms, sqrt(-2 log(1 - u1)) * cos(2 pi u2)

    `seed` and `counter` (how many numbers were drawn) are 0-d uint64 arrays on the device,
    advanced and restored in place: a captured graph keeps reading and advancing the same
    two arrays, and no draw reads them on the host.
    """
    GAMMA = numpy.uint64(0x9E3779B97F4A7C15)
    M1, M2 = numpy.uint64(0xBF58476D1CE4E5B9), numpy.uint64(0x94D049BB133111EB)

    def __init__(self, xp, seed, counter=0):
        self.xp = xp
        self.seed = xp.full((), numpy.uint64(int(seed) % 2**64), dtype=numpy.uint64)
        self.counter = xp.full((), numpy.uint64(int(counter) % 2**64), dtype=numpy.uint64)

    def _bits(self, size):
        """The next `size` 64-bit numbers of the stream, as a uint64 array."""
        xp, u64 = self.xp, numpy.uint64
        n = xp.arange(1, size + 1, dtype=xp.uint64) + self.counter
        self.counter += u64(size)  # on the device, in place
        z = n * self.GAMMA + self.seed  # wraps mod 2**64, as the algorithm wants
        z = (z ^ (z >> u64(30))) * self.M1
        z = (z ^ (z >> u64(27))) * self.M2
        return z ^ (z >> u64(31))

    def random(self, shape, dtype):
        bits = 24 if numpy.dtype(dtype) == numpy.float32 else 53
        if kernels.fused(self.seed):  # 2 launches on the GPU, not 16
            u = self.xp.empty(shape, dtype)
            UNIFORM(self.seed, self.counter, bits, 2.0 ** -bits, u)
            ADVANCE(_size(shape), self.counter)
            return u
        top = self._bits(_size(shape)) >> numpy.uint64(64 - bits)
        return (top.astype(dtype) * numpy.dtype(dtype).type(2.0 ** -bits)).reshape(shape)

    def standard_normal(self, shape, dtype):
        if kernels.fused(self.seed):  # 2 launches, not 25
            normal = self.xp.empty(shape, dtype)
            NORMAL(self.seed, self.counter, _size(shape), normal)
            ADVANCE(2 * _size(shape), self.counter)
            return normal
        u = self.random((2, _size(shape)), numpy.float64)
        normal = self.xp.sqrt(-2 * self.xp.log1p(-u[0])) * self.xp.cos(2 * numpy.pi * u[1])
        return normal.astype(dtype).reshape(shape)

    def get_state(self):
        """{"seed": int, "counter": int}, read to the host (for checkpoints)."""
        return {"seed": int(backend.to_numpy(self.seed)), "counter": int(backend.to_numpy(self.counter))}

    def set_state(self, state):
        """Restore get_state()'s integers into the same two device arrays."""
        self.seed[...] = numpy.uint64(int(state["seed"]) % 2**64)
        self.counter[...] = numpy.uint64(int(state["counter"]) % 2**64)


# The draws above as kernels on the GPU (minigrad/kernels.py), the same numbers bit for bit
# (the normal's log1p and cos to the last bit of the math library's): element i takes the
# (counter + i + 1)-th number of the stream; ADVANCE then moves the counter past the draw.
def _splitmix64(n):
    """C++ for x_n: z, the n-th 64-bit number of the stream, from `seed[0]`."""
    return f"""unsigned long long z = ({n}) * 0x9E3779B97F4A7C15ULL + seed[0];
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;"""


UNIFORM = kernels.Kernel(
    "raw uint64 seed, raw uint64 counter, int32 bits, T scale", "T u",
    _splitmix64("counter[0] + (unsigned long long)i + 1") + """
    u = (T)(z >> (64 - bits)) * scale;""",
    "minigrad_splitmix64_uniform")

NORMAL = kernels.Kernel(
    "raw uint64 seed, raw uint64 counter, int64 size", "T normal",
    """const double scale = 1.0 / 9007199254740992.0;  // 2^-53
    """ + _splitmix64("counter[0] + (unsigned long long)i + 1") + """
    const double u1 = (double)(z >> 11) * scale;
    """ + _splitmix64("counter[0] + (unsigned long long)size + (unsigned long long)i + 1").replace(
        "unsigned long long z =", "z =") + """
    const double u2 = (double)(z >> 11) * scale;
    normal = (T)(sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586 * u2));""",
    "minigrad_splitmix64_normal")

ADVANCE = kernels.Kernel("uint64 size", "uint64 counter", "counter += size;", "minigrad_splitmix64_advance")


def _size(shape):
    return int(numpy.prod(shape, dtype=numpy.int64))


def use_splitmix64(enabled=True):
    """Make the numpy and strict backends draw from SplitMix64 on the device, as CuPy does,
    instead of numpy's host Generator: what a step checked for capture on the CPU needs
    (docs/capture.md). They then draw the very numbers CuPy draws from the same seed. Off by
    default: numpy's Generator is faster on a CPU and keeps the streams of existing runs.
    Returns the setting it replaced, to restore."""
    global _splitmix64_everywhere
    previous, _splitmix64_everywhere = _splitmix64_everywhere, bool(enabled)
    return previous


def _key(name):
    """Which generator backend `name` draws from."""
    if name == "cupy":
        return "cupy"
    return f"{name}-splitmix64" if _splitmix64_everywhere else "numpy"


def _get(key):
    if key not in _generators:
        if key == "numpy":
            _generators[key] = numpy.random.default_rng(_seed)
        else:  # a SplitMix64 on the backend its key names
            seed = _seed if _seed is not None else numpy.random.SeedSequence().entropy
            _generators[key] = SplitMix64(backend.backend_module(key.split("-")[0]), seed)
    return _generators[key]


def manual_seed(seed):
    """Seed every random source minigrad draws from (and the backend's global RNG)."""
    global _seed
    _seed = int(seed)
    _generators.clear()
    numpy.random.seed(_seed % 2**32)
    cupy = backend.loaded_cupy()
    if cupy is not None:
        cupy.random.seed(_seed)


def generator(name=None):
    """The generator backend `name` (the active one by default) draws from: SplitMix64 on
    CuPy (and everywhere after use_splitmix64), numpy.random.Generator otherwise."""
    return _get(_key(name or backend.get_backend()))


def generators():
    """Every generator made so far, by key: the registry itself, which capture.rules watches
    (a generator first made inside a captured step would be made at every replay)."""
    return _generators


def _draw(method, shape, dtype, name):
    name = name or backend.get_backend()
    source = generator(name)
    if isinstance(source, SplitMix64):  # on the device already
        return getattr(source, method)(shape, dtype)
    if host_access.step_pool is not None:
        host_access.refuse(
            "a random draw from numpy's Generator is made on the host (a replay would reuse its "
            "numbers)", "call minigrad.random.use_splitmix64(True) before the step, so that numpy "
            "and strict draw on the device, as CuPy does")
    return backend.backend_module(name).asarray(getattr(source, method)(shape, dtype=dtype))


def random_normal(shape, dtype, name=None):
    """Standard-normal samples of `dtype` drawn on the backend `name`."""
    return _draw("standard_normal", shape, dtype, name)


def random_uniform(shape, dtype, name=None):
    """Uniform [0, 1) samples of `dtype` drawn on the backend `name`."""
    return _draw("random", shape, dtype, name)


def get_rng_state():
    """The state of every generator, as plain JSON-able data (for checkpoints): numpy's
    Generator under "numpy", each SplitMix64 as {"seed": int, "counter": int} under its key
    ("cupy", and "numpy-splitmix64", "strict-splitmix64" after use_splitmix64)."""
    state = {"numpy": _get("numpy").bit_generator.state}
    if backend.loaded_cupy() is not None:  # CuPy is loaded, so draws on it may follow
        _get("cupy")
    state.update((key, source.get_state()) for key, source in _generators.items()
                 if isinstance(source, SplitMix64))
    return state


def set_rng_state(state):
    """Restore get_rng_state()'s data; a SplitMix64 in place, so that a captured step goes on
    drawing from the restored stream."""
    _get("numpy").bit_generator.state = state["numpy"]
    for key, saved in state.items():
        if key == "numpy" or (key == "cupy" and not backend.cupy_available()):
            continue  # a GPU run resumed on the CPU skips CuPy's generator
        _get(key).set_state(saved)
