"""Random numbers on every backend, seeded by one call, with a state a checkpoint can hold.

Library code draws with `random_normal(shape, dtype)` and `random_uniform(shape, dtype)`,
on the active backend or the one named. `manual_seed(s)` seeds them all: numpy and strict
share one numpy.random.Generator; CuPy has its own generator, SplitMix64, whose state is two
integers. `get_rng_state()` / `set_rng_state()` save and restore every generator as plain
JSON-able data.

(A module named `random` inside the package does not hide the standard library's: imports
are absolute, and minigrad's own modules import this one as `from . import random`.)
"""
import numpy

from . import backend

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
    cupy = backend.loaded_cupy()
    if cupy is not None:
        cupy.random.seed(_seed)


def generator(name=None):
    """The random generator of a backend: numpy.random.Generator, or SplitMix64 on CuPy."""
    key = _generator_key(name or backend.get_backend())
    if key not in _generators:
        if key == "cupy":
            seed = _seed if _seed is not None else numpy.random.SeedSequence().entropy
            _generators[key] = SplitMix64(backend.backend_module("cupy"), seed)
        else:
            _generators[key] = numpy.random.default_rng(_seed)
    return _generators[key]


def random_normal(shape, dtype, name=None):
    """Standard-normal samples of `dtype` drawn on the backend `name`."""
    name = name or backend.get_backend()
    sample = generator(name).standard_normal(shape, dtype=dtype)
    return sample if name == "cupy" else backend.backend_module(name).asarray(sample)


def random_uniform(shape, dtype, name=None):
    """Uniform [0, 1) samples of `dtype` drawn on the backend `name`."""
    name = name or backend.get_backend()
    sample = generator(name).random(shape, dtype=dtype)
    return sample if name == "cupy" else backend.backend_module(name).asarray(sample)


def get_rng_state():
    """The state of every generator, as plain JSON-able data (for checkpoints)."""
    state = {"numpy": generator("numpy").bit_generator.state}
    if backend.loaded_cupy() is not None:  # CuPy is loaded, so draws on it may follow
        cupy_stream = generator("cupy")
        state["cupy"] = {"seed": cupy_stream.seed, "counter": cupy_stream.counter}
    return state


def set_rng_state(state):
    generator("numpy").bit_generator.state = state["numpy"]
    if "cupy" in state and backend.cupy_available():  # a GPU run resumed on the CPU skips it
        _generators["cupy"] = SplitMix64(backend.backend_module("cupy"), state["cupy"]["seed"],
                                         state["cupy"]["counter"])
