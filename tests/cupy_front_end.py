"""CuPy's own handling of a kernel call, without a GPU: the nearest check to a GPU run.

kernels.emulated() runs each kernel's body in a loop of ours. This asks CuPy itself what it
would do with the same call, as cupy.ElementwiseKernel.__call__ does before it launches:
  1. it decides the type T from the arrays' dtypes, and refuses a mismatch;
  2. it broadcasts the non-raw arrays, and refuses an output of another shape;
  3. it writes the kernel's CUDA source (its own template: CArray parameters, const inputs);
  4. NVRTC compiles that source for the GPU (sm_90, an H100's).
Steps 1 and 3 are CuPy's own functions; they are private (cupy._core._kernel), so this
module is for the tests only, and may need a change with a new CuPy. NVRTC needs no GPU:
`pip install cupy-cuda13x nvidia-cuda-nvrtc` on any Linux machine gives what it needs.
"""
import importlib

import numpy

ARCH = "sm_90"


def available():
    """'' when CuPy's kernel code and NVRTC can be used here, else why not."""
    try:
        importlib.import_module("cupy._core._kernel")
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
    except Exception as e:  # not installed, or no NVRTC library
        return f"{type(e).__name__}: {e}"
    return ""


def _arginfo(value, dtype, raw, shape, reduced):
    """CuPy's description of one argument: a raw array as it is; a non-raw one as CuPy
    broadcasts it to the loop's `shape`, or views it as 1-d where every array is contiguous."""
    from cupy._core import _kernel, _scalar
    import cupy
    if not isinstance(value, numpy.ndarray):  # a scalar: CuPy casts it to the parameter's type
        return _kernel._ArgInfo(3, _scalar.CScalar, dtype, 0, True, True)
    if raw:
        ndim, contiguous = value.ndim, value.flags.c_contiguous
    else:
        ndim = 1 if reduced else len(shape)
        contiguous = reduced or (value.flags.c_contiguous and value.shape == shape)
    return _kernel._ArgInfo(1, cupy.ndarray, value.dtype, ndim, contiguous, value.nbytes < 2**31)


def source(kernel, args):
    """The CUDA source CuPy writes for `kernel(*args)` (NumPy arrays standing for CuPy's),
    raising as CuPy raises on a call it refuses."""
    import cupy
    from cupy._core import _carray, _kernel
    args = [a.view(numpy.ndarray) if isinstance(a, numpy.ndarray) else a for a in args]
    n_in = len(kernel.inputs)
    # the very object Kernel.__call__ makes on CuPy: it parses the parameters
    cupy_kernel = cupy.ElementwiseKernel(kernel.in_params, kernel.out_params, kernel.body, kernel.name)
    in_params, out_params, params = cupy_kernel.in_params, cupy_kernel.out_params, cupy_kernel.params
    is_array = [isinstance(a, numpy.ndarray) for a in args]
    if not all(is_array[n_in:]):
        raise TypeError("Output arguments type must be cupy.ndarray")
    in_types, _, type_map = _kernel._decide_params_type(
        in_params, out_params, tuple(a.dtype if array else None for a, array in zip(args[:n_in], is_array)),
        tuple(a.dtype for a in args[n_in:]))
    broadcast = [a for a, p in zip(args, in_params + out_params) if isinstance(a, numpy.ndarray) and not p.raw]
    shape = numpy.broadcast_shapes(*(a.shape for a in broadcast))
    for a, p in zip(args[n_in:], out_params):
        if not p.raw and a.shape != shape:
            raise ValueError("Out shape is mismatched")
    # CuPy views the non-raw arrays as 1-d when all are C-contiguous and of the full shape
    reduced = all(a.flags.c_contiguous and a.shape == shape for a in broadcast)
    dtypes = list(in_types) + [a.dtype for a in args[n_in:]]
    infos = tuple(_arginfo(a, dtype, p.raw, shape, reduced)
                  for a, dtype, p in zip(args, dtypes, in_params + out_params))
    indexer = _kernel._ArgInfo(2, _carray.Indexer, None, 1 if reduced else len(shape), True, True)
    return _kernel._get_elementwise_kernel_code(infos + (indexer,), type_map, params, cupy_kernel.operation,
                                                cupy_kernel.name, cupy_kernel.preamble)


_compiled = {}


def compile_for_gpu(code):
    """Compile CuPy's source with NVRTC as CuPy does (its headers and options), to a cubin."""
    from cupy._core import core
    from cupy.cuda.compiler import _NVRTCProgram
    if code not in _compiled:
        full = "".join(f"#include <{header}>\n" for header in core._cupy_header_list) + code
        options = core.assemble_cupy_compiler_options(()) + (
            f"-arch={ARCH}", "--device-as-default-execution-space")
        program = _NVRTCProgram(full, "kernel.cu", (), (), name_expressions=None, method="cubin")
        _compiled[code] = program.compile(options, None)[0]
    return _compiled[code]
