"""The "strict" backend: NumPy arrays of a subclass that refuses to meet a plain NumPy array,
as a CuPy array would. The test suite runs under it (MINIGRAD_TEST_BACKEND=strict) so that a
host array leaking into the device path fails on a machine without a GPU.

`strict` is the array module (`xp`) of the backend: `numpy` whose every function returns
StrictArrays. BackendMixError is what both strict arrays and `get_array_module` raise when
arrays of two backends meet.

While a step is checked for capture (minigrad/capture.py), strict arrays also refuse what a
CUDA graph cannot replay (minigrad/host_access.py): reading their values on the host
(float(), int(), bool(), .item(), .tolist()) and being made from host data (strict.asarray
of a list or a host array). They then record themselves in the step's pool, so the check
can tell an array made during the step from one made before.

Every operation that computes or writes a strict array's values goes through tape.run, so
that a step can be recorded and replayed as a CUDA graph would replay it (minigrad/tape.py).
"""
import numpy

from . import host_access, tape


class BackendMixError(TypeError):
    """Arrays of two backends met in one operation."""


def _host_read(name, what):
    """ndarray's method `name`, which reads values on the host: refused in a captured step."""
    method = getattr(numpy.ndarray, name)

    def checked(self, *args, **kwargs):
        if host_access.step_pool is not None:
            host_access.refuse(f"{what} of a device array reads it on the host",
                               host_access.READ_INSTEAD)
        return method(self, *args, **kwargs)
    return checked


class StrictArray(numpy.ndarray):
    """A NumPy array that, like a CuPy array, refuses to be mixed with plain NumPy arrays."""

    __bool__ = _host_read("__bool__", "bool() (an `if` on a value)")
    __float__ = _host_read("__float__", "float()")
    __int__ = _host_read("__int__", "int()")
    __index__ = _host_read("__index__", "using it as a Python index")
    __complex__ = _host_read("__complex__", "complex()")
    item = _host_read("item", ".item()")
    tolist = _host_read("tolist", ".tolist()")

    def argmax(self, *args, **kwargs):  # a 0-d array, as CuPy's, not a host scalar
        return _strict(tape.run(numpy.ndarray.argmax, self, *args, **kwargs))

    def argmin(self, *args, **kwargs):
        return _strict(tape.run(numpy.ndarray.argmin, self, *args, **kwargs))

    def __array_finalize__(self, obj):
        if host_access.step_pool is not None:
            host_access.step_pool.record(self)
        tape.check_made(self, obj)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        _refuse_host(ufunc.__name__, inputs + out)
        inputs = tuple(_plain(a) for a in inputs)
        if out:
            kwargs["out"] = tuple(_plain(a) for a in out)
        result = tape.run(getattr(ufunc, method), *inputs, **kwargs)
        if out and method != "at":  # the `out` arrays themselves, as NumPy: `x += 1` keeps x
            results = result if isinstance(result, tuple) else (result,)
            result = tuple(given if given is not None else r for given, r in zip(out, results))
            result = result[0] if len(result) == 1 else result
        return _strict(result)

    def __array_function__(self, func, types, args, kwargs):
        if numpy.ndarray in types:
            raise BackendMixError(
                f"numpy.{func.__name__} got a host NumPy array and a device ('strict') array; "
                "create arrays with the op's `xp` (get_array_module), not with numpy")
        # Run NumPy's own code on plain views, so its inner calls are not checked again.
        args, kwargs = _plain(args), {k: _plain(v) for k, v in kwargs.items()}
        return _strict(tape.run(func, *args, **kwargs))

    def __getitem__(self, index):
        _refuse_host("indexing", index if isinstance(index, tuple) else (index,))
        return _strict(tape.run(numpy.ndarray.__getitem__, self, index))  # x[0]: 0-d, as CuPy's

    def __setitem__(self, index, value):
        _refuse_host("item assignment", (index if isinstance(index, tuple) else (index,)) + (value,))
        return tape.run(numpy.ndarray.__setitem__, self, index, value)


def _through_tape(name):
    """ndarray's method `name`, which computes or writes values in C without NumPy's dispatch."""
    method = getattr(numpy.ndarray, name)

    def recorded(self, *args, **kwargs):
        return tape.run(method, self, *args, **kwargs)
    recorded.__name__ = name
    return recorded


COMPUTED = ("copy", "astype", "fill", "reshape", "ravel", "flatten", "take", "put", "repeat", "sort",
            "argsort", "partition", "dot", "round", "cumsum", "cumprod", "searchsorted", "__copy__")
for _name in COMPUTED:
    setattr(StrictArray, _name, _through_tape(_name))
del _name


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
            if name in COPY_FROM_DATA and host_access.step_pool is not None \
                    and args and not isinstance(args[0], StrictArray):
                host_access.refuse(f"strict.{name} of host data (a {type(args[0]).__name__}) "
                                   "copies it from the host to the device", host_access.COPY_INSTEAD)
            return _strict(tape.run(attr, *args, **kwargs))
        return strict_function


COPY_FROM_DATA = ("array", "asarray", "asanyarray", "ascontiguousarray")  # data in, device array out


strict = _StrictModule(numpy)
