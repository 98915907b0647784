"""minigrad/blas.py: the matrix products a captured step asks of cuBLAS itself. On the CPU,
a stand-in for cuBLAS computes each gemm from the addresses, leading dimensions and
transposes it is given, reading memory column-major as cuBLAS does: so the mapping of every
layout numpy.matmul takes to cuBLAS's arguments is checked without a GPU. The GPU tests
call the real cuBLAS the same way, and check() before a capture."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import minigrad
from minigrad import backend as mg_backend
from minigrad import blas
from minigrad.capture import CaptureError, CapturedStep


@pytest.fixture(autouse=True)
def once(backend):
    """Once, under numpy or cupy (the backend fixture restores the backend after a GPU test)."""
    if backend == "strict":
        pytest.skip("runs once, under the numpy (or cupy) test backend")


class StandIn:
    """cuBLAS's gemm on host memory: C (m × n) = op(A)·op(B), each matrix read by columns
    from its address with its leading dimension; refuses what cuBLAS refuses."""

    def __init__(self):
        self.calls = 0

    def gemm(self, dtype, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
        self.calls += 1
        dtype = np.dtype(dtype)
        rows_a, rows_b = (m, k) if transa == blas.NO_TRANSPOSE else (k, m), \
                         (k, n) if transb == blas.NO_TRANSPOSE else (n, k)
        assert lda >= max(1, rows_a[0]) and ldb >= max(1, rows_b[0]) and ldc >= max(1, m)

        def matrix(address, shape, ld):
            rows, columns = shape
            size = (ld * (columns - 1) + rows) * dtype.itemsize
            memory = (ctypes.c_char * size).from_address(address)
            return np.ndarray(shape, dtype, memory, strides=(dtype.itemsize, ld * dtype.itemsize))
        op_a = matrix(a, rows_a, lda)
        op_b = matrix(b, rows_b, ldb)
        op_a = op_a if transa == blas.NO_TRANSPOSE else op_a.T
        op_b = op_b if transb == blas.NO_TRANSPOSE else op_b.T
        matrix(c, (m, n), ldc)[...] = op_a @ op_b


def operands(rng, dtype):
    """(a, b) in every layout and shape numpy.matmul takes."""
    def m(*shape):
        return rng.standard_normal(shape).astype(dtype)
    square = m(5, 5)
    return {
        "C by C": (m(3, 4), m(4, 5)),
        "F by C": (m(4, 3).T, m(4, 5)),
        "C by F": (m(3, 4), m(5, 4).T),
        "F by F": (m(4, 3).T, m(5, 4).T),
        "strided": (m(3, 8)[:, ::2], m(6, 5)[1:5]),
        "a view of a column": (square[:, 1:2].T, square[:, :3]),
        "one row": (m(1, 4), m(4, 5)),
        "one column out": (m(3, 4), m(4, 1)),
        "matrix by vector": (m(3, 4), m(4)),
        "vector by matrix": (m(4), m(4, 5)),
        "vector by vector": (m(4), m(4)),
        "rows of a batch by a matrix": (m(2, 3, 4), m(4, 5)),
        "a transposed batch by a matrix": (m(2, 4, 3).transpose(0, 2, 1), m(4, 5)),
        "batch by batch, broadcast": (m(2, 1, 3, 4), m(3, 4, 5)),
        "matrix by batch": (m(3, 4), m(2, 4, 5)),
        "no inner axis": (m(3, 0), m(0, 5)),
        "no rows": (m(0, 4), m(4, 5)),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(operands(np.random.default_rng(0), np.float32)))
def test_every_layout_gives_numpys_product(case, dtype):
    a, b = operands(np.random.default_rng(0), dtype)[case]
    stand_in = StandIn()
    got = blas.captured_matmul(a, b, None, stand_in)
    expected = a @ b
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)
    batch = int(np.prod(expected.shape[:-2])) if b.ndim > 2 else 1  # b a matrix: one product of all a's rows
    assert stand_in.calls == (0 if 0 in a.shape + b.shape else batch)


def test_the_product_goes_into_out():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    out = np.full((3, 2), np.nan)
    assert blas.captured_matmul(a, b, out, StandIn()) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-13)


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.int64, np.int64), (np.float16, np.float16)])
def test_what_gemm_cannot_take_is_refused_saying_so(dtypes):
    a, b = np.ones((2, 2), dtypes[0]), np.ones((2, 2), dtypes[1])
    with pytest.raises(CaptureError, match="float32 or two float64 arrays of one backend"):
        blas.captured_matmul(a, b, None, StandIn())


def test_outside_a_capture_matmul_is_numpys():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    np.testing.assert_array_equal(blas.matmul(a, b), a @ b)  # bit for bit: the CPU's route unchanged
    out = np.empty((2, 3, 5))
    assert blas.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, a @ b)


class SwappedTransposes(StandIn):
    """A binding that got CUBLAS_OP_N and CUBLAS_OP_T the wrong way round."""

    def gemm(self, dtype, transa, transb, *rest):
        super().gemm(dtype, 1 - transa, 1 - transb, *rest)


@pytest.mark.parametrize("binding, fits", [(StandIn, True), (SwappedTransposes, False)])
def test_the_check_before_a_capture_catches_a_binding_that_does_not_fit(binding, fits, monkeypatch):
    class HostCuPy:  # NumPy standing for CuPy
        def __getattr__(self, name):
            return np.asarray if name == "asnumpy" else getattr(np, name)
    monkeypatch.setattr(blas.backend, "backend_module", lambda name: HostCuPy())
    monkeypatch.setattr(blas, "_cublas", binding())
    if fits:
        blas.check()
    else:
        with pytest.raises(CaptureError, match="does not fit this cuBLAS"):
            blas.check()


# A C library with cuBLAS's signatures, doing its gemm on host memory: CuBLAS's ctypes
# binding called as on a GPU (64-bit handle and stream, host scalars by address).
FAKE_CUBLAS = """
#include <cstddef>
static void *last_handle, *last_stream, *last_workspace;
static size_t last_workspace_size;
extern "C" void *handle_seen() { return last_handle; }
extern "C" void *stream_seen() { return last_stream; }
extern "C" void *workspace_seen() { return last_workspace; }
extern "C" size_t workspace_size_seen() { return last_workspace_size; }
extern "C" int cublasSetStream_v2(void *handle, void *stream) {  // resets the workspace, as cuBLAS does
    last_handle = handle; last_stream = stream; last_workspace = 0; last_workspace_size = 0; return 0; }
extern "C" int cublasSetWorkspace_v2(void *handle, void *workspace, size_t size) {
    last_workspace = workspace; last_workspace_size = size; return handle == last_handle ? 0 : 7; }
extern "C" int cublasSetPointerMode_v2(void *handle, int mode) { return mode == 0 ? 0 : 7; }
template <typename T>
int gemm(void *handle, int ta, int tb, int m, int n, int k, const T *alpha, const T *a, int lda,
         const T *b, int ldb, const T *beta, T *c, int ldc) {
    if (handle != last_handle || !last_workspace || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)
        return 7;
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            T sum = 0;
            for (int p = 0; p < k; ++p)
                sum += (ta ? a[p + i * lda] : a[i + p * lda]) * (tb ? b[j + p * ldb] : b[p + j * ldb]);
            c[i + j * ldc] = *alpha * sum + (*beta == 0 ? 0 : *beta * c[i + j * ldc]);
        }
    return 0;
}
extern "C" int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
    const float *a, int lda, const float *b, int ldb, const float *beta, float *c, int ldc) {
    return gemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); }
extern "C" int cublasDgemm_v2(void *h, int ta, int tb, int m, int n, int k, const double *alpha,
    const double *a, int lda, const double *b, int ldb, const double *beta, double *c, int ldc) {
    return gemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); }
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler for the stand-in library")
def test_the_ctypes_binding_passes_cublas_what_it_expects(tmp_path, monkeypatch):
    (tmp_path / "fake_cublas.cpp").write_text(FAKE_CUBLAS)
    library = tmp_path / "libcublas.so.13"
    subprocess.run(["g++", "-shared", "-fPIC", "-O1", "-o", str(library), str(tmp_path / "fake_cublas.cpp")],
                   check=True)
    cublas = blas.CuBLAS(ctypes.CDLL(str(library)))
    handle, stream, workspace = 0x7F12_3456_7890, 0x7F98_7654_3210, 0x7F55_0000_0000  # 64-bit, as real ones are
    monkeypatch.setattr(cublas, "device_state", lambda: (handle, stream, workspace))
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        for case, (a, b) in operands(rng, dtype).items():
            np.testing.assert_allclose(blas.captured_matmul(a, b, None, cublas), a @ b,
                                       rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6, err_msg=case)
    seen = ctypes.CDLL(str(library))
    seen.handle_seen.restype = seen.stream_seen.restype = seen.workspace_seen.restype = ctypes.c_void_p
    seen.workspace_size_seen.restype = ctypes.c_size_t
    assert (seen.handle_seen(), seen.stream_seen(), seen.workspace_seen()) == (handle, stream, workspace)
    assert seen.workspace_size_seen() == blas.CuBLAS.WORKSPACE_BYTES
    with pytest.raises(CaptureError, match="cublasSgemm_v2 returned cuBLAS status 7"):
        cublas.gemm(np.float32, 0, 0, 2, 2, 2, 0, 1, 0, 2, 0, 2)  # lda 1 < m 2: refused, as cuBLAS does


def test_the_cublas_opened_is_the_one_cupy_loaded(monkeypatch):
    asked, opened = [], []

    class StandInCuPy:  # CUDA 13.2's runtime
        class cuda:
            class device:
                get_cublas_handle = staticmethod(lambda: asked.append("handle"))

            class runtime:
                runtimeGetVersion = staticmethod(lambda: 13020)

    def open_library(name, mode):
        opened.append((name, mode))
        if name != "libcublas.so.13":
            raise OSError(f"{name}: cannot open shared object file")
        return "the library"
    monkeypatch.setattr(blas.backend, "backend_module", lambda name: StandInCuPy)
    monkeypatch.setattr(blas.ctypes, "CDLL", open_library)
    assert blas.loaded_library() == "the library"
    assert asked == ["handle"] and opened == [("libcublas.so.13", blas.os.RTLD_NOLOAD)]  # loaded already, not found anew
    StandInCuPy.cuda.runtime.runtimeGetVersion = staticmethod(lambda: 12080)
    with pytest.raises(CaptureError, match="libcublas.so.12, CuPy's cuBLAS, is not loaded"):
        blas.loaded_library()


def test_what_gemm_cannot_take_goes_to_numpys_matmul_outside_a_capture(monkeypatch):
    monkeypatch.setattr(blas.backend, "backend_of", lambda x: "cupy")  # as if on a GPU, warming up
    monkeypatch.setattr(blas, "cublas", lambda: pytest.fail("cuBLAS called for an int product"))
    with blas.calling_cublas():
        np.testing.assert_array_equal(blas.matmul(np.eye(2, dtype=np.int64), np.ones((2, 2), np.int64)),
                                      np.ones((2, 2)))


# ----------------------------------------------------------------------------- on a GPU
needs_gpu = pytest.mark.skipif(not mg_backend.cupy_available(), reason=f"no CuPy GPU: {mg_backend._cupy_error}")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_on_a_gpu_cublas_called_directly_gives_cupys_product(dtype):
    import cupy
    blas.check()
    for case, (a, b) in operands(np.random.default_rng(3), dtype).items():
        a, b = cupy.asarray(a), cupy.asarray(b)
        got = blas.captured_matmul(a, b, None, blas.cublas())
        np.testing.assert_allclose(cupy.asnumpy(got), cupy.asnumpy(a @ b), rtol=1e-5, atol=1e-6, err_msg=case)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_on_a_gpu_cublas_called_directly_agrees_with_cupy_at_a_layers_sizes(dtype):
    """A convolution's three products at the DCGAN's sizes (cols @ W, colsᵀ @ gy, gy @ Wᵀ).
    cuBLAS's sgemm and CuPy's own calls may sum in other orders, so each element may differ by
    twice the rounding bound of a K-term dot product, K·ε·(|a|·|b|); a misread operand is off
    by the size of the values."""
    import cupy
    rng = np.random.default_rng(5)
    cols, W, gy = (cupy.asarray(rng.standard_normal(shape).astype(dtype))
                   for shape in [(3136, 1600), (1600, 64), (3136, 64)])
    for a, b in ((cols, W), (cols.T, gy), (gy, W.T)):
        got, expected = blas.captured_matmul(a, b, None, blas.cublas()), a @ b
        bound = a.shape[1] * np.finfo(dtype).eps * (abs(a).astype(np.float64) @ abs(b).astype(np.float64))
        assert bool((abs(got - expected) <= 2 * bound).all()), (a.shape, b.shape, a.flags.f_contiguous)


@pytest.mark.gpu
@needs_gpu
def test_on_a_gpu_a_step_of_products_is_captured_and_replays_them():
    minigrad.set_backend("cupy")
    layer = minigrad.nn.Dense(4, 3)

    def step(x):
        return layer(x).sum()
    captured = CapturedStep(step, layer, warmup=1)
    x = minigrad.tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
    eager = float(step(x).item())
    results = [float(captured(x).item()) for _ in range(3)]
    assert captured.graph is not None, captured.eager_because
    assert results == pytest.approx([eager] * 3, rel=1e-5, abs=1e-6)  # cuBLAS's sgemm against CuPy's own call


@pytest.mark.gpu
@needs_gpu
def test_on_a_gpu_a_step_that_rebinds_its_state_is_refused_not_run_eagerly():
    """A failed capture ran the step's Python but none of its kernels: state it rebound
    points at memory never written, so going on eagerly would train on garbage."""
    minigrad.set_backend("cupy")
    layer = minigrad.nn.Dense(4, 3)

    def step():
        layer.weight.data = layer.weight.data * 0.5  # rebinds: a rule broken
        return layer.weight.sum()
    captured = CapturedStep(step, layer, warmup=1)
    captured()
    with pytest.raises(CaptureError, match="trying changed its state"):
        captured()
