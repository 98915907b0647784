"""Count the array operations of one training step, and say which code issues them.

    python benchmarks/launches.py                        # every model, batch 64, both routes
    python benchmarks/launches.py --models dcgan --top 15
    python benchmarks/launches.py --also-only-in minigrad.optim   # + a column: Adam's kernels only

On CuPy each array operation (an elementwise pass, a reduction, a matrix product, a copy, a
fill) is at least one kernel launch. Eagerly, each launch costs the host several
microseconds. In a captured CUDA graph the host cost is gone, but each kernel node still
costs the GPU a microsecond or two, which adds up when the kernels themselves are tiny, as
they are at batch 64. So the count is what fusing kernels can still save, whether or not the
step is captured. It is counted on the CPU, with no GPU: the step runs on the "strict"
backend (NumPy arrays that behave as CuPy's, minigrad/strict.py), and every outermost NumPy
call on its arrays counts once, as does every fused kernel (minigrad/kernels.py). A view (a
reshape, a transpose, basic slicing) or an allocation (empty) costs no launch and is not
counted, nor is an astype or ascontiguousarray that returns its input. Each operation is
charged to the innermost minigrad function that called it.

Two columns: the step as the CPU runs it (NumPy's route), and as the GPU runs it, with the
fused kernels (the kernels' route, run on the CPU by kernels.emulated(), which needs g++).
The count is a proxy: CuPy launches more than one kernel for some operations (a matrix
product, a reduction by CUB).
"""
import argparse
import collections
import contextlib
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

import gan_step  # noqa: E402
import numpy  # noqa: E402
from minigrad import kernels  # noqa: E402
from minigrad import strict as strict_module  # noqa: E402
from minigrad.random import use_splitmix64  # noqa: E402

MINIGRAD = os.path.join(ROOT, "minigrad") + os.sep
NOT_CALLERS = (strict_module.__file__,  # the backend's own code; blas.matmul: its caller's product
               os.path.join(MINIGRAD, "backend.py"), os.path.join(MINIGRAD, "blas.py"))


class Counter:
    """Counts the outermost array operations, by the minigrad function that called them."""

    def __init__(self):
        self.by_caller = collections.Counter()
        self.depth = threading.local()

    def wrap(self, function, name=None):
        counter = self

        def counted(*args, **kwargs):
            depth = getattr(counter.depth, "value", 0)
            if depth == 0 and launches(name, args, kwargs):
                counter.by_caller[caller()] += 1
            counter.depth.value = depth + 1
            try:
                return function(*args, **kwargs)
            finally:
                counter.depth.value = depth
        return counted

    def install(self):
        """Count StrictArray's ufuncs, NumPy functions, copies and fancy indexing, and the
        strict module's functions (zeros, full, ...)."""
        array = strict_module.StrictArray
        array.__array_ufunc__ = self.wrap(array.__array_ufunc__)
        function = self.wrap(array.__array_function__, "__array_function__")
        array.__array_function__ = function
        for name in ("copy", "astype", "fill"):
            setattr(array, name, self.wrap(getattr(strict_module.numpy.ndarray, name), name))
        setitem, getitem = array.__setitem__, array.__getitem__
        array.__setitem__ = self.wrap(setitem)
        counted_getitem = self.wrap(getitem)
        array.__getitem__ = lambda a, index: (counted_getitem(a, index) if is_gather(index)
                                              else getitem(a, index))
        module_getattr = strict_module._StrictModule.__getattr__

        def counted_attribute(module, name):
            attr = module_getattr(module, name)
            plain = isinstance(attr, (type, numpy.ufunc)) or not callable(attr)  # ufuncs: counted above
            return attr if plain else self.wrap(attr, name)
        strict_module._StrictModule.__getattr__ = counted_attribute
        kernels.Kernel.__call__ = self.wrap(kernels.Kernel.__call__)


NO_KERNEL = {"empty", "empty_like", "broadcast_to", "transpose", "moveaxis", "swapaxes",
             "expand_dims", "squeeze", "as_strided", "result_type", "shape", "ndim"}  # views, allocations


def launches(name, args, kwargs):
    """Whether the call `name`(*args) launches a kernel on CuPy (None: a ufunc, always)."""
    if name == "__array_function__":  # (self, func, types, args, kwargs): a NumPy function
        name, args = args[1].__name__, args[3]
    if name in NO_KERNEL:
        return False
    if name == "astype":  # (array, dtype, ..., copy=True)
        return kwargs.get("copy", True) or numpy.dtype(args[1]) != args[0].dtype
    if name in ("ascontiguousarray", "asarray"):  # a copy only when it must
        source = args[0]
        dtype = kwargs.get("dtype", args[1] if len(args) > 1 else None)
        if not isinstance(source, strict_module.StrictArray):
            return True  # host data copied in
        same_dtype = dtype is None or numpy.dtype(dtype) == source.dtype
        return not (same_dtype and (name == "asarray" or source.flags.c_contiguous))
    return True


def is_gather(index):
    """Whether indexing with `index` gathers (a kernel) rather than makes a view."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(part, "shape") or isinstance(part, list) for part in parts)


def caller():
    """'module.function' of the innermost minigrad frame outside the backend's own code."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(MINIGRAD) and path not in NOT_CALLERS:
            module = os.path.relpath(path, MINIGRAD)[:-3].replace(os.sep, ".")
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "(outside minigrad)"


@contextlib.contextmanager
def kernels_only_in(modules):
    """The GPU's route only for the ops of `modules` (e.g. minigrad.optim): what the others'
    kernels save."""
    fused = kernels.fused
    kernels.fused = lambda x: sys._getframe(1).f_globals["__name__"] in modules and fused(x)
    try:
        yield
    finally:
        kernels.fused = fused


def count_step(model, batch_size, steps, gpu_route, only_in=None, warmup=2):
    counter = Counter()
    with kernels.emulated() if gpu_route else contextlib.nullcontext(), \
            kernels_only_in(only_in) if only_in else contextlib.nullcontext():
        step, _, _ = gan_step.make_ours(model, batch_size, "strict")
        use_splitmix64(gpu_route)  # CuPy draws from SplitMix64, eagerly too
        for _ in range(warmup):  # optimizer state made, as in a long run
            step()
        counter.install()
        try:
            for _ in range(steps):
                step()
        finally:
            uninstall()
    return {name: count / steps for name, count in counter.by_caller.items()}


ORIGINAL = {name: strict_module.StrictArray.__dict__.get(name) for name in
            ("__array_ufunc__", "__array_function__", "copy", "astype", "fill", "__setitem__",
             "__getitem__")}
ORIGINAL_GETATTR = strict_module._StrictModule.__getattr__
ORIGINAL_KERNEL_CALL = kernels.Kernel.__call__


def uninstall():
    for name, value in ORIGINAL.items():
        if value is None:
            delattr(strict_module.StrictArray, name)
        else:
            setattr(strict_module.StrictArray, name, value)
    strict_module._StrictModule.__getattr__ = ORIGINAL_GETATTR
    kernels.Kernel.__call__ = ORIGINAL_KERNEL_CALL


def kernel_module(kernel):
    """The module that defines `kernel` (where its op asks kernels.fused)."""
    import minigrad.functional  # noqa: F401  (imports every op, and so every kernel)
    import minigrad.nn  # noqa: F401
    import minigrad.optim  # noqa: F401
    for name, module in sys.modules.items():
        if name.startswith("minigrad") and any(v is kernel for v in vars(module).values()):
            return name
    return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dcgan,gan,dcgan-keras,sgan,wgan_gp,cgan,sgan_improved")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1, help="counted steps (the mean is shown)")
    parser.add_argument("--top", type=int, default=0, help="list each model's N busiest callers")
    parser.add_argument("--also-only-in", default="",
                        help="comma-separated modules (minigrad.optim): a column with only their kernels")
    args = parser.parse_args(argv)
    only_in = [m for m in args.also_only_in.split(",") if m]
    with_kernels = sorted({kernel_module(k) for k in kernels.Kernel.every})
    unknown = [m for m in only_in if m not in with_kernels]
    if unknown:
        parser.error(f"--also-only-in: {', '.join(unknown)} has no kernel; the modules with "
                     f"kernels are {', '.join(with_kernels)}")
    print(f"Array operations (≈ kernel launches on CuPy) per training step, batch {args.batch_size}:\n")
    middle = f" the GPU's route, kernels of {', '.join(only_in)} only |" if only_in else ""
    print(f"| model | NumPy's route |{middle} the GPU's route (all fused kernels) | saved |")
    print("| --- | ---: |" + (" ---: |" if only_in else "") + " ---: | ---: |")
    details = []
    for model in args.models.split(","):
        cpu, gpu = (count_step(model, args.batch_size, args.steps, route) for route in (False, True))
        cpu_total, gpu_total = sum(cpu.values()), sum(gpu.values())
        column = ""
        if only_in:
            column = f" {sum(count_step(model, args.batch_size, args.steps, True, only_in).values()):.0f} |"
        print(f"| {model} | {cpu_total:.0f} |{column} {gpu_total:.0f} | {1 - gpu_total / cpu_total:.0%} |",
              flush=True)
        details.append((model, gpu))
    for model, counts in details if args.top else ():
        print(f"\n{model}, the GPU's route: the {args.top} busiest callers")
        for name, count in sorted(counts.items(), key=lambda item: -item[1])[:args.top]:
            print(f"  {count:7.0f}  {name}")


if __name__ == "__main__":
    main()
