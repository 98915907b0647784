"""Matrix products: `matmul(a, b)` is NumPy's `a @ b`, except while a step is captured on CuPy.

On CuPy `a @ b` calls cuBLAS, and CuPy refuses to call cuBLAS on a stream that is being
captured into a CUDA graph: its `setStream` raises "NotImplementedError: calling cuBLAS API
during stream capture is currently unsupported" (cupy_backends/cuda/libs/cublas.pyx, CuPy
13 and 14). cuBLAS itself can be captured, as PyTorch's graphs do. So while minigrad.capture
captures a step (and warms it up), every op's product comes here and calls cuBLAS's gemm
itself, through ctypes, on CuPy's handle and the current stream, with a workspace of its own:
the same product, recorded into the graph. Everywhere else it is `a @ b`.

cuBLAS stores matrices by columns. A C-contiguous (r, c) matrix read by columns, with
leading dimension c, is its transpose; an F-contiguous one (a `.T` view) read so is itself,
with leading dimension r. So a row-major product C = A·B is asked of cuBLAS as the
column-major Cᵀ = Bᵀ·Aᵀ, each operand transposed ("T") where it lies F-contiguous, and C
comes back C-contiguous.
"""
import contextlib
import ctypes
import math
import os

import numpy

from . import backend, host_access
from .backend import get_array_module
from .host_access import CaptureError

NO_TRANSPOSE, TRANSPOSE = 0, 1  # cublasOperation_t: CUBLAS_OP_N, CUBLAS_OP_T
INT_MAX = 2**31 - 1  # gemm's sizes and leading dimensions are C ints
GEMMS = {numpy.dtype(numpy.float32): ("cublasSgemm_v2", ctypes.c_float),
         numpy.dtype(numpy.float64): ("cublasDgemm_v2", ctypes.c_double)}


_direct = False  # calling_cublas() is on


@contextlib.contextmanager
def calling_cublas():
    """Products on CuPy call cuBLAS directly inside the block, as they do while a step is
    captured: a CapturedStep's warm-up calls run the very calls its capture will record."""
    global _direct
    before, _direct = _direct, True
    try:
        yield
    finally:
        _direct = before


def matmul(a, b, out=None):
    """a @ b (into `out` when given), as numpy.matmul: 1-D operands, batch axes broadcast."""
    capturing = host_access.step_pool is not None
    if (capturing or _direct) and backend.backend_of(a) == "cupy" and (capturing or gemm_takes(a, b)):
        return captured_matmul(a, b, out, cublas())
    if out is not None:
        return get_array_module(a).matmul(a, b, out=out)
    return a @ b


def gemm_takes(a, b):
    """Whether sgemm or dgemm multiplies a and b: both on one backend, both float32 or float64."""
    return backend.backend_of(b) == backend.backend_of(a) and a.dtype == b.dtype and a.dtype in GEMMS


def captured_matmul(a, b, out, blas):
    """numpy.matmul(a, b) as `blas.gemm` calls, one per matrix of the batch; `blas` is the
    cuBLAS of this process (`cublas()`), or in the tests a stand-in that computes gemm on
    NumPy arrays by their addresses."""
    if not gemm_takes(a, b):
        raise CaptureError(f"a captured matrix product takes two float32 or two float64 arrays of "
                           f"one backend, got {a.dtype} and {b.dtype} ({backend.backend_of(a)}, "
                           f"{backend.backend_of(b)})")
    xp = get_array_module(a)
    vector_a, vector_b = a.ndim == 1, b.ndim == 1
    a = a.reshape(1, -1) if vector_a else a
    b = b.reshape(-1, 1) if vector_b else b
    if b.ndim == 2:  # (..., M, K) @ (K, N): every row of a at once
        rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
        y = product(rows, b, blas).reshape(a.shape[:-1] + b.shape[-1:])
    else:
        batch = numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = xp.broadcast_to(a, batch + a.shape[-2:])
        b = xp.broadcast_to(b, batch + b.shape[-2:])
        y = xp.empty(batch + (a.shape[-2], b.shape[-1]), dtype=a.dtype)
        for index in numpy.ndindex(*batch):
            product(a[index], b[index], blas, out=y[index])
    y = y[..., 0, :] if vector_a else y
    y = y[..., 0] if vector_b else y
    if out is None:
        return y
    out[...] = y
    return out


def product(a, b, blas, out=None):
    """The (M, N) product of a (M, K) and b (K, N), written C-contiguous into `out` (or a new
    array): cuBLAS's column-major Cᵀ = bᵀ·aᵀ."""
    (m, k), n = a.shape, b.shape[1]
    xp = get_array_module(a)
    y = xp.empty((m, n), dtype=a.dtype) if out is None else out
    if m and n and not k:
        y.fill(0)
    elif m and n:
        if max(m, n, k) > INT_MAX:
            raise CaptureError(f"a captured matrix product of {m}×{k} by {k}×{n}: cuBLAS's gemm "
                               f"takes sizes up to {INT_MAX}")
        op_a, ld_a, a = operand(a)
        op_b, ld_b, b = operand(b)
        blas.gemm(a.dtype, op_b, op_a, n, m, k, address(b), ld_b, address(a), ld_a, address(y), n)
    return y


def operand(x):
    """(op, leading dimension, x) that make cuBLAS read the 2-D x as xᵀ: a C-contiguous x
    as it lies; an F-contiguous x transposed; anything else copied C-contiguous first."""
    rows, columns = x.shape
    if not x.flags.c_contiguous and x.flags.f_contiguous:
        return TRANSPOSE, max(1, rows), x
    if not x.flags.c_contiguous:
        x = get_array_module(x).ascontiguousarray(x)
    return NO_TRANSPOSE, max(1, columns), x


def address(x):
    """The address of x's first element, on the device (CuPy) or the host (NumPy)."""
    return x.data.ptr if backend.backend_of(x) == "cupy" else x.ctypes.data


# ----------------------------------------------------------------------------- cuBLAS
class CuBLAS:
    """The libcublas that CuPy loaded, called with CuPy's handle on the current stream, and
    with a workspace of its own: cuBLAS then allocates nothing while a step is captured."""

    WORKSPACE_BYTES = 32 << 20  # what cuBLAS's documentation recommends for Hopper GPUs

    def __init__(self, library):
        self.library = library  # a ctypes.CDLL
        handle, status, integer, pointer = ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p
        signatures = {
            "cublasSetStream_v2": (handle, pointer),
            "cublasSetWorkspace_v2": (handle, pointer, ctypes.c_size_t),
            "cublasSetPointerMode_v2": (handle, integer),
            # handle, transa, transb, m, n, k, alpha*, A, lda, B, ldb, beta*, C, ldc
            **{name: (handle, integer, integer, integer, integer, integer, pointer, pointer, integer,
                      pointer, integer, pointer, pointer, integer) for name, _ in GEMMS.values()},
        }
        for name, argtypes in signatures.items():
            function = getattr(self.library, name)
            function.argtypes, function.restype = argtypes, status
        self.workspaces = {}  # (device, stream) -> its workspace, as cuBLAS asks: one per stream

    def device_state(self):
        """CuPy's cuBLAS handle for this thread and device, the current (capturing) stream, and
        the address of that stream's workspace (made at its first gemm: a warm-up, not a capture)."""
        cupy = backend.backend_module("cupy")
        stream = cupy.cuda.get_current_stream().ptr
        key = (cupy.cuda.runtime.getDevice(), stream)
        if key not in self.workspaces:
            self.workspaces[key] = cupy.empty(self.WORKSPACE_BYTES, dtype=numpy.uint8)
        return cupy.cuda.device.get_cublas_handle(), stream, self.workspaces[key].data.ptr

    def call(self, name, *args):
        status = getattr(self.library, name)(*args)
        if status != 0:
            raise CaptureError(f"{name} returned cuBLAS status {status}")

    def gemm(self, dtype, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
        """C = op(A)·op(B), column-major, C (m, n); alpha 1 and beta 0, read from the host."""
        name, scalar = GEMMS[numpy.dtype(dtype)]
        one, zero = scalar(1), scalar(0)
        handle, stream, workspace = self.device_state()
        self.call("cublasSetStream_v2", handle, stream)  # which also resets the workspace: set it after
        self.call("cublasSetWorkspace_v2", handle, workspace, self.WORKSPACE_BYTES)
        self.call("cublasSetPointerMode_v2", handle, 0)  # CUBLAS_POINTER_MODE_HOST
        self.call(name, handle, transa, transb, m, n, k, ctypes.addressof(one), a, lda, b, ldb,
                  ctypes.addressof(zero), c, ldc)


_cublas = None


def cublas():
    """This process's CuBLAS, found and checked once (outside a capture: `check()`)."""
    global _cublas
    if _cublas is None:
        _cublas = CuBLAS(loaded_library())
    return _cublas


def loaded_library():
    """The libcublas CuPy uses (libcublas.so.13 for CUDA 13), as a ctypes.CDLL. CuPy loads it
    (from a pip wheel or the toolkit) when it makes its cuBLAS handle; opened with
    RTLD_NOLOAD, the name can only give that very library, not another copy (PyTorch's, say)
    found on the library path."""
    cupy = backend.backend_module("cupy")
    cupy.cuda.device.get_cublas_handle()  # CuPy loads cuBLAS, if it has not yet
    name = f"libcublas.so.{cupy.cuda.runtime.runtimeGetVersion() // 1000}"
    try:
        return ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
    except OSError as error:
        raise CaptureError(f"{name}, CuPy's cuBLAS, is not loaded in this process ({error}); a "
                           "captured step calls cuBLAS itself") from None


def check():
    """At a captured step's first call: compare products through cuBLAS called directly with
    CuPy's `@`, on small matrices in every layout `product` handles; raise CaptureError if one
    differs, so that a wrong binding makes the step run eagerly, saying why, not train wrong."""
    cupy = backend.backend_module("cupy")
    blas = cublas()
    for dtype in GEMMS:
        a = cupy.arange(1, 7, dtype=dtype).reshape(2, 3) / 8
        b = cupy.arange(1, 13, dtype=dtype).reshape(3, 4) / 16
        for left, right in ((a, b), (b.T, a.T), (a[:, ::2], b[::2]), (a.T.copy().T, b)):
            got, expected = captured_matmul(left, right, None, blas), left @ right
            if not bool(cupy.allclose(got, expected, rtol=1e-6, atol=0)):
                raise CaptureError(f"cuBLAS called directly gave {cupy.asnumpy(got).tolist()} for "
                                   f"{cupy.asnumpy(expected).tolist()} ({dtype}): its binding "
                                   "(minigrad/blas.py) does not fit this cuBLAS")
