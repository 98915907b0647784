"""The fused kernels (minigrad/kernels.py) against the NumPy code they replace.

Every op with a kernel runs its forward and backward three ways on the same inputs:
NumPy's route; the kernels' route on the CPU (kernels.emulated(): each kernel's own CUDA
body compiled by g++); and, where CuPy has a GPU, the kernels on the GPU. The kernels do
the same arithmetic in the same order as the NumPy passes, so on the CPU they must agree
bit for bit, but for two routes that group their sums differently (a convolution's one
matrix product, against one per tap) and the transcendental functions of the loss (the C
library's against NumPy's own). Each kernel's body is also compiled for a GPU by nvcc,
where nvcc is installed.
"""
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minigrad
from minigrad import backend as mg_backend
from minigrad import functional as F
from minigrad import kernels, nn, optim
from minigrad.random import SplitMix64, use_splitmix64

import cupy_front_end

ROOT = pathlib.Path(__file__).resolve().parents[1]
rng = np.random.default_rng(0)
needs_cupy_front_end = pytest.mark.skipif(
    bool(cupy_front_end.available()),
    reason=f"no CuPy with NVRTC to check the kernels' calls ({cupy_front_end.available()})")
needs_compiler = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                    reason="no C++ compiler to run the kernels on the CPU")


def grads_of(fn, arrays, backend_name, dtype):
    """fn's outputs and the gradients of Σ outputs·weights w.r.t. every input, as host arrays."""
    tensors = [minigrad.tensor(a, requires_grad=True, dtype=dtype, backend=backend_name) for a in arrays]
    outputs = fn(*tensors)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    loss = None
    for i, y in enumerate(outputs):
        weights = minigrad.tensor(np.random.default_rng(i).standard_normal(y.shape), dtype=dtype,
                                  backend=backend_name)
        term = (y * weights).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return [y.numpy() for y in outputs] + [mg_backend.to_numpy(t.grad) for t in tensors]


def batch_norm_case(shape, affine, nhwc=False, training=True):
    def run(x, *gamma_beta):
        if nhwc:  # x as a convolution leaves it: NCHW-shaped, channels-last memory
            x = x.transpose((0, 3, 1, 2))
        running = [mg_backend.backend_module(x.device).zeros(shape[1], dtype=x.dtype),
                   mg_backend.backend_module(x.device).ones(shape[1], dtype=x.dtype)]
        gamma, beta = gamma_beta if affine else (None, None)
        y = F.batch_norm(x, gamma, beta, *running, training=training)
        return y, minigrad.tensor(running[0]), minigrad.tensor(running[1])
    n, c, *hw = shape
    shapes = [(n, *hw, c) if nhwc else shape] + ([(c,), (c,)] if affine else [])
    return run, shapes


def leaky(slope):
    return lambda x: F.leaky_relu(x, slope)


def bce(reduction, array_targets):
    targets = rng.random((6, 3)) if array_targets else 1.0

    def run(x):
        t = minigrad.tensor(targets, dtype=x.dtype, backend=x.device) if array_targets else targets
        y = F.binary_cross_entropy_with_logits(x * 4, t, reduction=reduction)
        return y if reduction != "none" else y.sum()
    return run, [(6, 3)]


def cross_entropy(reduction, transposed=False, last_class_ahead_by=0.0):
    labels = np.array([3, 0, 4, 4, 1, 2])
    ahead = np.zeros((6, 5))
    ahead[:, 4] = last_class_ahead_by  # 100: e^(x − m) overflows float32 unless m is the max

    def run(x):
        logits = x.transpose((1, 0)) if transposed else x  # (6, 5); transposed: strided memory
        logits = logits * 3 + minigrad.tensor(ahead, dtype=x.dtype, backend=x.device)
        y = F.cross_entropy(logits, labels, reduction=reduction)
        return y if reduction != "none" else y.sum()
    return run, [(5, 6) if transposed else (6, 5)]


def penalty_gradient(x, w):
    """A gradient penalty's second derivatives (WGAN-GP): through Conv2DWeightGrad and the
    convolutions that differentiate a convolution's gradient."""
    y = F.leaky_relu(F.conv2d(x, w, stride=2, padding=1), 0.2)
    (gx,) = minigrad.grad((y * y).sum(), [x], create_graph=True)
    return gx


def layer_norm_penalty(x, gamma, beta):
    """A WGAN-GP critic's LayerNorm under a gradient penalty: forward and first backward on
    the kernels, the graph of the gradient differentiated again."""
    y = F.leaky_relu(F.layer_norm(x, gamma, beta), 0.2)
    (gx,) = minigrad.grad((y * y).sum(), [x], create_graph=True)
    return gx


# name -> (fn, input shapes, whether the kernels' route equals NumPy's bit for bit on the CPU)
CASES = {
    "conv2d stride 2, C ≥ 16": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                                [(2, 16, 8, 8), (5, 16, 4, 4), (5,)], False),
    "conv2d 3×3, C < 16": (lambda x, w: F.conv2d(x, w, padding=(2, 1)), [(2, 3, 5, 6), (4, 3, 3, 3)], True),
    "conv2d stride 3, no padding, on channels-last memory": (
        lambda x, w: F.conv2d(x.transpose((0, 3, 1, 2)), w, stride=3), [(2, 8, 7, 3), (4, 3, 2, 3)], True),
    "conv_transpose2d stride 2": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
                                  [(2, 6, 4, 4), (6, 16, 4, 4), (16,)], False),
    "conv_transpose2d output_padding, C < 16": (
        lambda x, w: F.conv_transpose2d(x, w, stride=3, padding=1, output_padding=2),
        [(2, 4, 3, 2), (4, 5, 5, 2)], True),
    "second derivatives of conv2d": (penalty_gradient, [(2, 3, 6, 6), (4, 3, 4, 4)], True),
    "batch_norm (N, C)": (*batch_norm_case((7, 5), affine=True), True),
    "batch_norm (N, C, H, W)": (*batch_norm_case((3, 4, 5, 2), affine=True), True),
    "batch_norm channels-last memory": (*batch_norm_case((3, 4, 5, 2), affine=True, nhwc=True), True),
    "batch_norm without γ, β": (*batch_norm_case((3, 4, 5, 2), affine=False), True),
    "batch_norm in evaluation": (*batch_norm_case((3, 4, 5, 2), affine=True, training=False), True),
    "leaky_relu 0.2": (leaky(0.2), [(4, 5)], True),
    "leaky_relu 1.5": (leaky(1.5), [(4, 5)], True),
    "bce_with_logits mean": (*bce("mean", False), False),
    "bce_with_logits sum, array targets": (*bce("sum", True), False),
    "bce_with_logits none": (*bce("none", True), False),
    "weight_norm": (F.weight_norm, [(5, 7), (5,)], True),
    "cross_entropy mean": (*cross_entropy("mean"), False),
    "cross_entropy sum, strided logits": (*cross_entropy("sum", transposed=True), False),
    "cross_entropy none": (*cross_entropy("none"), False),
    "cross_entropy of logits that e^x overflows": (*cross_entropy("mean", last_class_ahead_by=100), False),
    "layer_norm (N, C, H, W)": (lambda x, g, b: F.layer_norm(x, g, b), [(3, 4, 5, 2), (4, 5, 2), (4, 5, 2)], True),
    "layer_norm without γ, β": (lambda x: F.layer_norm(x, None, None), [(6, 5)], True),
    "second derivatives of layer_norm": (layer_norm_penalty, [(3, 4, 3, 3), (4, 3, 3), (4, 3, 3)], True),
}


def on_the_cpu(backend):
    if backend == "cupy":
        pytest.skip("kernels.emulated() runs the kernels on the CPU backends")


def inputs_of(shapes):
    return [rng.standard_normal(shape) for shape in shapes]


@needs_compiler
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_route_on_the_cpu_equals_numpys(name, dtype, backend):
    on_the_cpu(backend)
    fn, shapes, exact = CASES[name]
    arrays = inputs_of(shapes)
    expected = grads_of(fn, arrays, backend, dtype)
    with kernels.emulated():
        got = grads_of(fn, arrays, backend, dtype)
    for e, g in zip(expected, got):
        if exact:
            np.testing.assert_array_equal(g, e)
        else:
            np.testing.assert_allclose(g, e, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not mg_backend.cupy_available(), reason=f"no CuPy GPU: {mg_backend._cupy_error}")
@pytest.mark.parametrize("name", CASES)
def test_kernels_on_the_gpu_equal_numpys_route(name):
    fn, shapes, _ = CASES[name]
    arrays = inputs_of(shapes)
    for e, g in zip(grads_of(fn, arrays, "numpy", "float64"), grads_of(fn, arrays, "cupy", "float64")):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def train_a_little(backend_name, capturable, steps=3):
    """A module's parameters after Adam steps and their moving average: both use kernels."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Dense(5, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1)).to(backend_name)
    adam = optim.Adam(model.parameters(), lr=0.01, betas=(0.5, 0.999), capturable=capturable)
    average = nn.ExponentialMovingAverage(model, 0.9, capturable=capturable)
    x = minigrad.tensor(np.random.default_rng(1).standard_normal((8, 5)), dtype=minigrad.float32,
                        backend=backend_name)
    for _ in range(steps):
        adam.zero_grad()
        (model(x) ** 2).mean().backward()
        adam.step()
        average.update()
    return [p.numpy() for p in model.parameters()] + [p.numpy() for p in average.average.parameters()]


@needs_compiler
@pytest.mark.parametrize("capturable", [False, True], ids=["eager", "capturable"])
def test_adam_and_the_moving_average_kernels_equal_numpys_passes(capturable, backend):
    on_the_cpu(backend)
    expected = train_a_little(backend, capturable)
    with kernels.emulated():
        got = train_a_little(backend, capturable)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


def adam_with_a_parameter_left_out(called):
    """Capturable Adam's parameters and step counts after three steps, the second without b's
    gradient (its count stays behind), and how many ADAM_SCALARS launches each step made
    (`called`: the names of the kernels run so far)."""
    a, b = (minigrad.tensor(np.linspace(-1, 1, n), requires_grad=True, dtype=minigrad.float32) for n in (6, 4))
    adam = optim.Adam([a, b], lr=0.1, betas=(0.5, 0.999), capturable=True)
    launches = []
    for with_b in (True, False, True):
        a.grad = minigrad.tensor(np.cos(a.numpy()), dtype=minigrad.float32).data
        b.grad = minigrad.tensor(np.sin(b.numpy()), dtype=minigrad.float32).data if with_b else None
        before = called.count("minigrad_adam_scalars")
        adam.step()
        launches.append(called.count("minigrad_adam_scalars") - before)
    state = adam.state_dict()
    return [a.numpy(), b.numpy()], (state["state.0.step"], state["state.1.step"]), launches


@needs_compiler
def test_capturable_adam_advances_every_count_in_one_launch_and_one_alone_when_it_steps_alone(backend, monkeypatch):
    on_the_cpu(backend)
    called, run = [], kernels.run_on_cpu
    monkeypatch.setattr(kernels, "run_on_cpu", lambda kernel, args: (called.append(kernel.name), run(kernel, args)))
    expected, expected_steps, _ = adam_with_a_parameter_left_out(called)
    with kernels.emulated():
        got, steps, launches = adam_with_a_parameter_left_out(called)
    assert steps == expected_steps == (3, 2)
    assert launches == [2, 1, 1]  # the first step makes the state: one each; then one for both
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


def draws(xp, dtype):
    source = SplitMix64(xp, seed=12345, counter=7)
    numbers = [source.random((3, 5), dtype), source.standard_normal((4, 3), dtype),
               source.random((7,), dtype)]
    return [mg_backend.to_numpy(a) for a in numbers] + [source.get_state()]


@needs_compiler
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_splitmix64_kernels_draw_numpys_numbers(dtype, backend):
    on_the_cpu(backend)
    xp = mg_backend.backend_module(backend)
    expected = draws(xp, dtype)
    with kernels.emulated():
        got = draws(xp, dtype)
    assert got[3] == expected[3]  # the counter moved past the same numbers
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[2], expected[2])
    if dtype == "float32":
        np.testing.assert_array_equal(got[1], expected[1])
    else:  # NumPy's own log1p and cos against the C library's: the last bit
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-15, atol=1e-15)


def test_every_op_with_a_kernel_is_tested_here():
    tested = {"minigrad_col2im", "minigrad_im2col", "minigrad_batch_statistics", "minigrad_normalize_and_scale",
              "minigrad_batch_norm_input_gradient", "minigrad_leaky_relu",
              "minigrad_leaky_relu_gradient", "minigrad_bce_with_logits",
              "minigrad_bce_with_logits_gradient", "minigrad_adam", "minigrad_adam_scalars",
              "minigrad_capturable_adam", "minigrad_move_towards", "minigrad_splitmix64_uniform",
              "minigrad_splitmix64_normal", "minigrad_splitmix64_advance", "minigrad_weight_norm",
              "minigrad_weight_norm_gradient", "minigrad_layer_norm_inv_std", "minigrad_layer_norm_input_gradient",
              "minigrad_cross_entropy", "minigrad_cross_entropy_gradient"}
    assert {k.name for k in kernels.Kernel.every} == tested


@needs_compiler
def test_a_kernel_is_refused_the_wrong_arguments_as_cupy_refuses_them():
    from minigrad.nn.averaging import MOVE_TOWARDS
    with pytest.raises(TypeError, match="minigrad_move_towards: takes 3 inputs and 1 outputs, got 2"):
        MOVE_TOWARDS(np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="average is float32, the kernel takes float64 there"):
        MOVE_TOWARDS(np.zeros(3), 0.5, 0.5, np.zeros(3, dtype=np.float32))


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc to compile the kernels for a GPU")
@pytest.mark.parametrize("ctype", ["float", "double"])
def test_every_kernel_compiles_for_a_gpu(tmp_path, ctype, backend):
    """Each body in the loop CuPy's ElementwiseKernel puts it in (approximately: the real one
    is CuPy's, checked on a GPU by the test above)."""
    if backend != "numpy":
        pytest.skip("the same source on every backend: compiled once, under numpy")
    units = [kernels.RAW]
    for number, kernel in enumerate(kernels.Kernel.every):
        shapes = ["array"] * (len(kernel.inputs) + len(kernel.outputs))
        units.append(f"namespace k{number} {{\n{kernels.kernel_source(kernel, ctype, shapes, 'gpu')}}}\n")
    source = tmp_path / "kernels.cu"
    source.write_text("#include <cstddef>\n" + "".join(units))
    done = subprocess.run(["nvcc", "-c", "-arch=sm_80", str(source), "-o", str(tmp_path / "kernels.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def kernel_calls(backend, monkeypatch):
    """[(kernel, arguments)] of every kernel call the test makes on the CPU, to hand to CuPy."""
    if backend != "strict":
        pytest.skip("checked once, on strict arrays: their reductions give 0-d arrays, as CuPy's")
    calls = []
    run = kernels.run_on_cpu
    monkeypatch.setattr(kernels, "run_on_cpu", lambda kernel, args: (calls.append((kernel, args)), run(kernel, args)))
    return calls


def built_by_cupy(calls):
    for code in {cupy_front_end.source(kernel, args) for kernel, args in calls}:
        cupy_front_end.compile_for_gpu(code)


@needs_cupy_front_end
@needs_compiler
def test_cupy_takes_every_call_and_nvrtc_compiles_its_source(kernel_calls):
    """Every kernel call the tests above make, handed to CuPy's own front end: its type
    rules, its shape check and its CUDA source, compiled by NVRTC for a GPU. No GPU needed:
    what a lent GPU would otherwise find first (tests/cupy_front_end.py)."""
    with kernels.emulated():
        for dtype in ["float32", "float64"]:
            for fn, shapes, _ in CASES.values():
                grads_of(fn, inputs_of(shapes), "strict", dtype)
            draws(mg_backend.backend_module("strict"), dtype)
        for capturable in [False, True]:
            train_a_little("strict", capturable)
    assert {kernel.name for kernel, _ in kernel_calls} == {kernel.name for kernel in kernels.Kernel.every}
    built_by_cupy(kernel_calls)


@needs_cupy_front_end
@needs_compiler
def test_cupy_takes_every_call_of_every_models_step(kernel_calls, monkeypatch):
    """The same, for the calls the models' steps make, eager and captured, as on CuPy."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gan_step
    previous = use_splitmix64(True)
    try:
        with kernels.emulated():
            for kind in gan_step.MODELS:
                for captured in [False, True]:
                    step, _, _ = gan_step.make_ours(kind, 8, "strict", captured)
                    step()
                    step()  # the optimizers' state made: their kernels run
    finally:
        use_splitmix64(previous)
    built_by_cupy(kernel_calls)


@needs_cupy_front_end
def test_cupy_front_end_refuses_what_cupy_refuses(backend):
    """The checks above can fail: a dtype CuPy refuses, an output of the wrong shape, and a
    body that writes to an input (CuPy makes inputs const; NVRTC refuses)."""
    if backend != "numpy":
        pytest.skip("no array of ours: checked once, under numpy")
    from minigrad.nn.averaging import MOVE_TOWARDS
    with pytest.raises(TypeError, match="Type is mismatched"):
        cupy_front_end.source(MOVE_TOWARDS, (np.zeros(3), 0.5, 0.5, np.zeros(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="Out shape is mismatched"):
        cupy_front_end.source(MOVE_TOWARDS, (np.zeros((2, 3)), 0.5, 0.5, np.zeros(3)))
    writes_an_input = kernels.Kernel("T current, T r", "T average", "current = r;", "writes_an_input")
    kernels.Kernel.every.remove(writes_an_input)
    with pytest.raises(Exception, match="modifiable lvalue|const"):
        cupy_front_end.compile_for_gpu(cupy_front_end.source(writes_an_input, (np.zeros(3), 0.5, np.zeros(3))))


def test_minigrad_fused_kernels_takes_0_or_1_and_names_anything_else():
    assert kernels._on_cupy("1") and not kernels._on_cupy("0")
    with pytest.warns(UserWarning, match="MINIGRAD_FUSED_KERNELS must be 0 or 1, got 'off': the fused kernels stay on"):
        assert kernels._on_cupy("off")


def test_launches_refuses_a_module_without_kernels(backend):
    if backend != "numpy":
        pytest.skip("a command line: run once")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "launches.py"), "--also-only-in",
                           "minigrad.optimizers"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "minigrad.optimizers has no kernel; the modules with kernels are" in done.stderr
    assert "minigrad.optim," in done.stderr and "Traceback" not in done.stderr
