"""Backends (numpy, strict, cupy), moving tensors, dtypes, seeding, and a light import."""
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np
import pytest

import minigrad
from minigrad import backend as mg_backend
from minigrad import functional as F
from minigrad import host_memory
from minigrad import random as mg_random
from minigrad.strict import BackendMixError, StrictArray, strict

ROOT = pathlib.Path(__file__).resolve().parents[1]
cupy_importable = importlib.util.find_spec("cupy") is not None


# ----------------------------------------------------------------------------- choosing
@pytest.mark.skipif(cupy_importable, reason="CuPy is installed here")
def test_cupy_backend_without_cupy_fails_at_once_with_one_clear_line():
    before = minigrad.get_backend()
    with pytest.raises(RuntimeError) as failure:
        minigrad.set_backend("cupy")
    message = str(failure.value)
    assert "\n" not in message
    assert "CuPy is not installed" in message
    assert "minigrad[cuda12]" in message and "minigrad[cuda13]" in message
    assert minigrad.get_backend() == before
    assert not mg_backend.cupy_available()


@pytest.mark.skipif(cupy_importable, reason="CuPy is installed here")
def test_moving_to_cupy_without_cupy_says_why():
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        minigrad.tensor([1.0]).to("cupy")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        minigrad.tensor([1.0], backend="cupy")


def test_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'jax'.*'numpy', 'cupy', 'strict'"):
        minigrad.set_backend("jax")


def test_new_tensors_go_to_the_active_backend(backend):
    t = minigrad.tensor(np.ones(3))
    assert t.device == backend == minigrad.get_backend()
    assert mg_backend.backend_of(t.data) == backend


# ----------------------------------------------------------------------------- mixing
def two_backends():
    return (minigrad.tensor([1.0, 2.0], backend="numpy"),
            minigrad.tensor([3.0, 4.0], backend="strict"))


@pytest.mark.parametrize("op", [
    pytest.param(lambda a, b: a + b, id="add"),
    pytest.param(lambda a, b: b * a, id="mul"),
    pytest.param(lambda a, b: a @ b, id="matmul"),
    pytest.param(lambda a, b: F.concatenate([a, b]), id="concatenate"),
    pytest.param(lambda a, b: F.where(np.array([True, False]), a, b), id="where"),
])
def test_an_op_on_two_backends_names_both(op):
    a, b = two_backends()
    with pytest.raises(BackendMixError, match="numpy and strict"):
        op(a, b)


def test_a_host_array_meeting_a_strict_tensor_is_refused():
    s = minigrad.tensor([1.0, 2.0], backend="strict")
    with pytest.raises(BackendMixError):
        s + np.ones(2, dtype=np.float32)


def test_get_array_module_refuses_mixed_arrays():
    with pytest.raises(BackendMixError, match="numpy and strict"):
        mg_backend.get_array_module(np.ones(2), strict.ones(2))


def test_strict_arrays_refuse_plain_numpy_arrays():
    s, host = strict.ones(3), np.ones(3)
    with pytest.raises(BackendMixError, match="ufunc|add"):
        s + host
    with pytest.raises(BackendMixError):
        np.exp(s, out=host)
    with pytest.raises(BackendMixError, match="numpy.concatenate"):
        np.concatenate([s, host])
    with pytest.raises(BackendMixError, match="indexing"):
        s[np.array([0, 1])]
    with pytest.raises(BackendMixError, match="item assignment"):
        s[0:3] = host


def test_strict_arrays_work_among_themselves():
    s = strict.arange(4.0)
    for result in (s + s, s * 2.0, s + np.float64(1), np.exp(s), strict.concatenate([s, s]),
                   s[strict.asarray([0, 0])], strict.zeros(2), s.sum(axis=0, keepdims=True)):
        assert isinstance(result, StrictArray)
    for total in (s.sum(), s.max(), strict.mean(s)):  # 0-d arrays, as CuPy's: not host scalars
        assert isinstance(total, StrictArray) and total.shape == ()
    np.add.at(s, strict.asarray([1, 1]), 1.0)
    np.testing.assert_array_equal(mg_backend.to_numpy(s), [0.0, 3.0, 2.0, 3.0])


# ----------------------------------------------------------------------------- moving
def test_to_moves_between_numpy_and_strict():
    t = minigrad.tensor([1.0, 2.0], requires_grad=True, backend="numpy")
    s = t.to("strict")
    assert s.device == "strict" and isinstance(s.data, StrictArray)
    assert s.requires_grad and s.is_leaf
    back = s.to("numpy")
    assert back.device == "numpy" and type(back.data) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    s.data += 1  # a move is a copy, as it is to a GPU
    np.testing.assert_array_equal(t.numpy(), back.numpy())
    assert t.to(dtype=minigrad.float64).dtype == minigrad.float64


@pytest.mark.parametrize("like_backend", ["numpy", "strict"])
def test_as_array_like_puts_any_value_on_the_backend_of_like(like_backend):
    like = mg_backend.backend_module(like_backend).zeros(2, dtype=np.float32)
    other = "strict" if like_backend == "numpy" else "numpy"
    values = {"number": 2.5, "numpy scalar": np.float64(2.5), "list": [1, 2],
              "host array": np.array([1.0, 2.0]), "other backend": mg_backend.to_backend(np.ones(2), other),
              "tensor": minigrad.tensor([1.0, 2.0], backend=other)}
    for name, value in values.items():
        for dtype in (None, np.float32):
            array = mg_backend.as_array_like(value, like, dtype)
            assert mg_backend.backend_of(array) == like_backend, name
            assert not isinstance(array, np.generic), name  # a 0-d array, not a NumPy scalar
            assert dtype is None or array.dtype == dtype, name
            np.testing.assert_array_equal(mg_backend.to_numpy(array), np.asarray(
                mg_backend.to_numpy(value.data) if name == "tensor" else
                mg_backend.to_numpy(value) if name == "other backend" else value), err_msg=name)


def test_as_array_like_does_not_copy_an_array_already_in_place(backend):
    t = minigrad.tensor([1.0, 2.0])
    for value in (t, t.data):
        array = mg_backend.as_array_like(value, t.data, t.dtype)
        array[0] = 7.0
        assert t.numpy()[0] == 7.0
    assert mg_backend.as_array_like(t, t.data, np.float64).dtype == np.float64


def test_an_upstream_gradient_takes_the_tensor_dtype_and_backend(backend):
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    for grad in ([1.0, 3.0], np.array([1.0, 3.0]), minigrad.tensor([1.0, 3.0], dtype=minigrad.float64,
                                                                   backend="numpy")):
        x.grad = None
        (x * 2.0).backward(grad)
        assert x.grad.dtype == np.float32 and mg_backend.backend_of(x.grad) == backend
        np.testing.assert_array_equal(mg_backend.to_numpy(x.grad), [2.0, 6.0])


def test_gradients_live_on_the_tensor_backend(backend):
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert mg_backend.backend_of(x.grad) == backend


def test_numpy_returns_a_plain_host_array():
    for name in ("numpy", "strict"):
        t = minigrad.tensor([[1.0, 2.0]], backend=name)
        for array in (t.numpy(), (t * 2.0).numpy(), t.sum().numpy()):
            assert type(array) is np.ndarray
        assert isinstance(t.sum().item(), float)


# ----------------------------------------------------------------------------- dtypes
def test_float32_by_default():
    for data in ([1, 2], [1.0, 2.0], np.ones(2, dtype=np.float64), 3.0):
        assert minigrad.tensor(data).dtype == minigrad.float32


def test_float64_when_asked_and_it_propagates():
    x = minigrad.tensor([0.5, 1.5], requires_grad=True, dtype=minigrad.float64)
    y = F.log_softmax(F.exp(x * 2.0 + 1.0) * x) @ x
    assert y.dtype == minigrad.float64
    y.backward()
    assert x.grad.dtype == minigrad.float64


def test_tensor_copies_its_data():
    data = np.ones(3, dtype=np.float32)
    t = minigrad.tensor(data)
    t.data += 1  # what an optimizer step does
    np.testing.assert_array_equal(data, [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- randomness
def test_manual_seed_makes_random_normal_reproducible(backend):
    minigrad.manual_seed(123)
    first = mg_random.random_normal((4, 3), minigrad.float32)
    minigrad.manual_seed(123)
    again = mg_random.random_normal((4, 3), minigrad.float32)
    minigrad.manual_seed(124)
    other = mg_random.random_normal((4, 3), minigrad.float32)
    assert mg_backend.backend_of(first) == backend and first.dtype == minigrad.float32
    np.testing.assert_array_equal(mg_backend.to_numpy(first), mg_backend.to_numpy(again))
    assert not np.array_equal(mg_backend.to_numpy(first), mg_backend.to_numpy(other))


def test_random_uniform_and_rng_state_round_trip():
    minigrad.manual_seed(7)
    state = json.loads(json.dumps(mg_random.get_rng_state()))  # JSON-able, for checkpoints
    first = mg_backend.to_numpy(mg_random.random_uniform((1000,), minigrad.float64))
    assert first.dtype == np.float64 and 0 <= first.min() and first.max() < 1
    mg_random.set_rng_state(state)
    again = mg_backend.to_numpy(mg_random.random_uniform((1000,), minigrad.float64))
    np.testing.assert_array_equal(first, again)


# ----------------------------------------------------------------------------- import
def test_cupy_stream_is_splitmix64():
    """CuPy's generator, run here on NumPy: the reference implementation's outputs for seed
    1234567, a stream cut anywhere continuing from its two-integer state, sane draws."""
    stream = mg_random.SplitMix64(np, 1234567)
    assert [int(x) for x in stream._bits(3)] == [6457827717110365317, 3203168211198807973,
                                                  9817491932198370423]
    assert [int(x) for x in mg_random.SplitMix64(np, 1234567, counter=3)._bits(2)] == \
        [4593380528125082431, 16408922859458223821]
    u = mg_random.SplitMix64(np, 5).random((1000, 1000), np.float32)
    assert u.dtype == np.float32 and u.shape == (1000, 1000) and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 1e-3 and abs(u.var() - 1 / 12) < 1e-3
    stream = mg_random.SplitMix64(np, 5)
    z = stream.standard_normal((500, 1000), np.float64)
    assert stream.counter == 1_000_000 and z.dtype == np.float64
    assert abs(z.mean()) < 5e-3 and abs(z.std() - 1) < 5e-3 and abs((np.abs(z) > 3).mean() - 0.0027) < 5e-4


def old_splitmix64(seed, counter, size):
    """The stream as SplitMix64 drew it with a Python int counter (before the device counter),
    for `size` numbers from position `counter`: x_n = mix(seed + (n + 1)·GAMMA)."""
    mask = 2**64 - 1
    out = []
    for n in range(counter + 1, counter + size + 1):
        z = (n * 0x9E3779B97F4A7C15 + seed) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return np.array(out, dtype=np.uint64)


@pytest.mark.parametrize("xp", [np, strict], ids=["numpy", "strict"])
def test_splitmix64_with_a_device_counter_draws_the_old_stream(xp):
    """The counter is a 0-d uint64 device array advanced in place, and the numbers drawn are
    the old formula's, draw after draw: raw bits, float32 and float64 uniforms, normals."""
    seed = 2**63 + 12345
    stream = mg_random.SplitMix64(xp, seed)
    counter = stream.counter
    position = 0
    for size in (1, 7, 1000):
        np.testing.assert_array_equal(mg_backend.to_numpy(stream._bits(size)),
                                      old_splitmix64(seed, position, size))
        position += size
        bits = old_splitmix64(seed, position, size)
        expected = (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
        np.testing.assert_array_equal(mg_backend.to_numpy(stream.random((size,), np.float32)), expected)
        position += size
        u = (old_splitmix64(seed, position, 2 * size) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        expected = np.sqrt(-2 * np.log1p(-u[:size])) * np.cos(2 * np.pi * u[size:])
        np.testing.assert_array_equal(mg_backend.to_numpy(stream.standard_normal((size,), np.float64)),
                                      expected)
        position += 2 * size
    assert stream.counter is counter and counter.shape == () and counter.dtype == np.uint64
    assert stream.get_state() == {"seed": seed, "counter": position}
    again = mg_random.SplitMix64(xp, 1)
    seed_array = again.seed
    again.set_state(json.loads(json.dumps(stream.get_state())))  # in place, from JSON
    assert again.seed is seed_array and again.get_state() == stream.get_state()
    np.testing.assert_array_equal(mg_backend.to_numpy(again._bits(3)), mg_backend.to_numpy(stream._bits(3)))


@pytest.fixture
def splitmix64_everywhere():
    mg_random.use_splitmix64(True)
    yield
    mg_random.use_splitmix64(False)


def test_use_splitmix64_draws_cupys_stream_on_numpy_and_strict(backend, splitmix64_everywhere):
    """The CPU draws, on the device, the numbers CuPy draws from the same seed; the state keeps
    the checkpoint format and is restored in place."""
    if backend == "cupy":
        pytest.skip("CuPy draws from SplitMix64 anyway (tests/test_gpu.py)")
    minigrad.manual_seed(5)
    source = mg_random.generator()
    assert isinstance(source, mg_random.SplitMix64)
    z = mg_random.random_normal((3, 4), minigrad.float32)
    assert mg_backend.backend_of(z) == backend and z.dtype == np.float32
    reference = mg_random.SplitMix64(np, 5).standard_normal((3, 4), np.float32)
    np.testing.assert_array_equal(mg_backend.to_numpy(z), reference)
    state = json.loads(json.dumps(mg_random.get_rng_state()))
    assert state[f"{backend}-splitmix64"] == {"seed": 5, "counter": 24}
    u = mg_backend.to_numpy(mg_random.random_uniform((5,), minigrad.float64))
    mg_random.set_rng_state(state)
    assert mg_random.generator() is source
    np.testing.assert_array_equal(mg_backend.to_numpy(mg_random.random_uniform((5,), minigrad.float64)), u)


def test_numpy_and_strict_draw_from_numpys_generator_by_default(backend):
    if backend == "cupy":
        pytest.skip("CuPy draws from SplitMix64")
    minigrad.manual_seed(11)
    z = mg_random.random_normal((2, 3), minigrad.float32)
    np.testing.assert_array_equal(mg_backend.to_numpy(z), np.random.default_rng(11).standard_normal(
        (2, 3), dtype=np.float32))
    assert set(mg_random.get_rng_state()) == {"numpy"}


def test_in_place_ufuncs_keep_the_strict_array_itself():
    """As NumPy's and CuPy's: `x += 1` leaves x the same object (state updated in place stays
    the array a captured graph reads)."""
    x = strict.zeros(3)
    y = x
    y += 1
    np.multiply(x, 2, out=x)
    assert y is x and isinstance(x, StrictArray)
    np.testing.assert_array_equal(mg_backend.to_numpy(x), [2.0, 2.0, 2.0])


def test_import_minigrad_is_light():
    code = ("import sys, minigrad; "
            "print(sorted(m for m in ('matplotlib', 'cupy', 'PIL') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- host memory
def glibc():
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc(), reason="malloc's settings are glibc's")
def test_host_memory_takes_glibc_settings(monkeypatch):
    monkeypatch.delenv("MINIGRAD_KEEP_FREED_MEMORY", raising=False)
    assert host_memory.keep_freed_memory() is True


def test_host_memory_leaves_malloc_alone_when_asked(monkeypatch):
    monkeypatch.setenv("MINIGRAD_KEEP_FREED_MEMORY", "0")
    assert host_memory.keep_freed_memory() is False


REUSE_PROBE = """
import numpy as np, minigrad
first = np.empty(8 << 20, dtype=np.uint8)  # 8 MiB: glibc's default hands this to mmap
first[:] = 1
address = first.ctypes.data
del first
print(np.empty(8 << 20, dtype=np.uint8).ctypes.data == address)
"""


@pytest.mark.skipif(not glibc(), reason="malloc's settings are glibc's")
@pytest.mark.parametrize("setting, reused", [(None, "True"), ("0", "False")])
def test_freed_large_block_is_reused_by_the_next_step_only_with_the_settings(setting, reused):
    # What the settings are for: a large temporary freed in one step comes back from the
    # heap in the next, at the same address, instead of as fresh pages from the kernel.
    # A fresh process each time: the test process's heap has seen every other test.
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_KEEP_FREED_MEMORY"}
    if setting is not None:
        env["MINIGRAD_KEEP_FREED_MEMORY"] = setting
    result = subprocess.run([sys.executable, "-c", REUSE_PROBE], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == reused
