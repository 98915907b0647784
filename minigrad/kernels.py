"""Fused kernels: one GPU kernel where the NumPy code makes several passes.

On CuPy every array operation is a kernel launch. At a GAN's sizes most kernels are tiny,
so a step costs about what its launches cost: several microseconds of Python each when the
step runs eagerly, and a microsecond or two of the GPU's time each even when the step is
replayed as a CUDA graph (minigrad/capture.py). A `Kernel` is one cupy.ElementwiseKernel
that does the work of several operations: its parameters and loop body, in CUDA C++, kept
beside the NumPy code it replaces. The op calls it where `fused(x)` says so (on CuPy) and
runs its NumPy code elsewhere; both compute the same thing, and tests compare them.
benchmarks/launches.py counts what each one saves.

There is no GPU in CI, so `emulated()` makes the CPU backends take the kernels' route too,
running each kernel's own body, compiled by the host's C++ compiler (g++) into a loop that
hands it its arguments as ElementwiseKernel does: an element's value of each input array
(broadcast against the others), a reference to its element of each output, `raw` arrays
whole, indexed as flat C-order arrays, and `i`, the element's index. tests/test_kernels.py
checks every op that has a kernel both ways, on the CPU, and also compiles each body for a
GPU with nvcc when that is installed. MINIGRAD_FUSED_KERNELS=0 turns the kernels off on CuPy
(benchmarks/gpu_check.sh times the step both ways).
"""
import atexit
import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings

import numpy

from . import backend, tape

CTYPES = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long",
          "uint64": "unsigned long long", "bool": "bool"}


class Kernel:
    """A cupy.ElementwiseKernel, `Kernel(inputs, outputs, body, name)` with CuPy's own
    syntax ("T x, raw T cols, int32 n", "T y"), called with every output given:
    `kernel(*inputs, *outputs)`. Its work is the loop over the outputs' elements."""

    every = []  # all kernels, for the tests

    def __init__(self, inputs, outputs, body, name):
        self.inputs, self.outputs = parameters(inputs), parameters(outputs)
        self.body, self.name = body, name
        self.in_params, self.out_params = inputs, outputs
        self._cupy = None
        Kernel.every.append(self)

    def __call__(self, *args):
        if len(args) != len(self.inputs) + len(self.outputs):
            raise TypeError(f"{self.name}: takes {len(self.inputs)} inputs and {len(self.outputs)} "
                            f"outputs, got {len(args)} arguments")
        if backend.backend_of(args[len(self.inputs)]) == "cupy":
            if self._cupy is None:
                self._cupy = backend.backend_module("cupy").ElementwiseKernel(
                    self.in_params, self.out_params, self.body, self.name)
            self._cupy(*args)
        else:
            tape.run(run_on_cpu, self, args)  # recorded, on strict, as a graph records a launch


def parameters(text):
    """[(raw, type, name)] of CuPy's parameter syntax, "T x, raw float64 s"."""
    found = []
    for part in text.split(","):
        words = part.split()
        raw = words[0] == "raw"
        found.append((raw, words[-2], words[-1]))
    return found


# ----------------------------------------------------------------------------- the route
_emulating = False


def _on_cupy(setting):
    """MINIGRAD_FUSED_KERNELS: "1" (the default) or "0", CuPy running the NumPy passes too
    (to measure what the kernels save); anything else is named, and the kernels stay on."""
    if setting not in ("0", "1"):
        warnings.warn(f"MINIGRAD_FUSED_KERNELS must be 0 or 1, got {setting!r}: the fused kernels "
                      "stay on (set it to 0 to turn them off)", stacklevel=2)
    return setting != "0"


ON_CUPY = _on_cupy(os.environ.get("MINIGRAD_FUSED_KERNELS", "1"))


def fused(x):
    """Whether the ops on array x take the kernels' route: on CuPy, or while emulated()."""
    return _emulating or (ON_CUPY and backend.backend_of(x) == "cupy")


@contextlib.contextmanager
def emulated():
    """Run the kernels' route on the CPU backends too, each kernel compiled for the host
    (needs g++): how the tests, and benchmarks/launches.py, see the GPU's route."""
    global _emulating
    outer, _emulating = _emulating, True
    try:
        yield
    finally:
        _emulating = outer


# ----------------------------------------------------------------------------- on the CPU
HOST_PRELUDE = """\
#include <cmath>
#include <cstddef>
using std::sqrt; using std::exp; using std::log; using std::log1p; using std::tanh; using std::pow;
using std::fabs; using std::fmax; using std::fmin; using std::cos;
#define __device__
"""
RAW = """\
template <class U> struct Raw {  // a `raw` parameter: the whole array, flat C order
    U* data;
    __device__ U& operator[](ptrdiff_t k) const { return data[k]; }
};
"""
LOOPS = {"host": ("extern \"C\" void", "for (ptrdiff_t i = 0; i < _size; ++i)"),
         "gpu": ("extern \"C\" __global__ void",
                 "for (ptrdiff_t i = (ptrdiff_t)blockIdx.x * blockDim.x + threadIdx.x; i < _size; "
                 "i += (ptrdiff_t)blockDim.x * gridDim.x)")}


def loop_source(kernel, ctype, shapes, where="host"):
    """The whole C++ file of kernel_source(): what emulated() compiles."""
    return (HOST_PRELUDE if where == "host" else "#include <cstddef>\n") + RAW + kernel_source(
        kernel, ctype, shapes, where)


def kernel_source(kernel, ctype, shapes, where="host"):
    """C++ of the kernel's body in a loop over the elements, its arguments passed as
    ElementwiseKernel passes them: for the host (where="host", what emulated() runs) or
    for a GPU ("gpu", what the tests compile with nvcc). shapes: per argument, "array" or
    "scalar"."""
    signature, loop = LOOPS[where]
    params, setup, per_element = [], [], []
    for index, ((raw, type_, name), shape) in enumerate(zip(kernel.inputs + kernel.outputs, shapes)):
        c = ctype if type_ == "T" else CTYPES[type_]
        output = index >= len(kernel.inputs)
        if raw:
            params.append(f"{c}* _p_{name}")
            setup.append(f"    Raw<{c}> {name}{{_p_{name}}};")
        elif shape == "scalar":
            params.append(f"{c} {name}")
        else:
            params.append(f"{'' if output else 'const '}{c}* _p_{name}")
            per_element.append(f"        {'' if output else 'const '}{c}{'&' if output else ''} "
                               f"{name} = _p_{name}[i];")
    return (f"typedef {ctype} T;\n{signature} {kernel.name}(ptrdiff_t _size, {', '.join(params)}) {{\n"
            + "".join(line + "\n" for line in setup)
            + f"    {loop} {{\n" + "".join(line + "\n" for line in per_element)
            + f"        {kernel.body}\n    }}\n}}\n")


_built = {}  # source hash -> loaded library
_folder = None


def compiled(source):
    """The host library built from `source` with g++ (once per source and process)."""
    global _folder
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    if key not in _built:
        compiler = shutil.which("g++") or shutil.which("c++")
        if compiler is None:
            raise RuntimeError("kernels.emulated() needs a C++ compiler (g++) to run the GPU "
                               "kernels on the CPU; install one (apt install g++)")
        if _folder is None:
            _folder = tempfile.mkdtemp(prefix="minigrad-kernels-")
            atexit.register(shutil.rmtree, _folder, ignore_errors=True)
        path = os.path.join(_folder, f"{key}.so")
        done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-x", "c++", "-", "-o", path],
                              input=source, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the kernel did not compile for the host:\n{done.stderr}")
        _built[key] = ctypes.CDLL(path)
    return _built[key]


def run_on_cpu(kernel, args):
    """Call `kernel` on NumPy (or strict) arrays through its host build."""
    plain = [a.view(numpy.ndarray) if isinstance(a, numpy.ndarray) else a for a in args]
    n_in = len(kernel.inputs)
    outputs = plain[n_in:]
    shape = outputs[0].shape
    t_dtype = next((a.dtype for a, (raw, type_, _) in zip(plain, kernel.inputs + kernel.outputs)
                    if type_ == "T" and isinstance(a, numpy.ndarray)), numpy.dtype("float32"))
    ctype = CTYPES[t_dtype.name]  # T: the dtype of its first array (unused if none)
    shapes, c_args, copies, alive = [], [], [], []
    for index, (a, (raw, type_, name)) in enumerate(zip(plain, kernel.inputs + kernel.outputs)):
        dtype = t_dtype if type_ == "T" else numpy.dtype(type_)
        if isinstance(a, numpy.ndarray) and a.dtype != dtype:  # as CuPy refuses it
            raise TypeError(f"{kernel.name}: {name} is {a.dtype}, the kernel takes {dtype} there")
        if raw or isinstance(a, numpy.ndarray):
            shapes.append("array")
            flat = numpy.ascontiguousarray(a if raw else numpy.broadcast_to(a, shape))
            if index >= n_in:
                copies.append((a, flat))
            alive.append(flat)  # until the call below
            c_args.append(flat.ctypes.data_as(ctypes.c_void_p))
        else:
            shapes.append("scalar")
            c_args.append(numpy.ctypeslib.as_ctypes_type(dtype)(a))
    library = compiled(loop_source(kernel, ctype, shapes))
    getattr(library, kernel.name)(ctypes.c_ssize_t(int(numpy.prod(shape))), *c_args)
    for original, flat in copies:
        if original is not flat:
            original[...] = flat
