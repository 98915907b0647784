"""A CUDA graph's stand-in on the strict backend: a step's array operations recorded as it runs
once, then replayed without its Python, so that the CPU (and CI) sees a step train as a graph.

A CUDA graph holds the kernels a step launched, each with its arguments: the addresses of the
arrays it read and wrote, and the numbers the Python passed it. A replay runs those kernels
again on the same memory, and none of the step's Python: whatever the Python decided (a
learning rate kept as a Python float, an array it chose to read) stays the capture's.

On the strict backend (minigrad/strict.py) every operation that computes or writes an array's
values goes through `run`. While a Tape records, `run` notes each call with its arguments, and
`Tape.launch()` makes every call again, in order, copying what each returns into the array the
recording got (the graph's memory). So a step that a graph would replay wrongly trains wrongly
on the CPU too, and the tests that compare a captured run with an eager one fail there.

A graph keeps the memory it made (its pool) and only the addresses of the arrays made before
it (weights, moments, inputs): whoever owns those must keep them alive. A tape does the same:
once recorded, it keeps the arrays it made and only weak references to the others, and if one
of those is gone at a replay, `launch` raises FreedArray, where a GPU would use freed memory.

This module imports nothing of minigrad, so that strict.py and kernels.py can record into it.
"""
import contextlib
import weakref

import numpy

recording = None  # the Tape being recorded, or None
_inside = False   # within a recorded call, whose replay repeats the calls it makes


class UnrecordedArray(RuntimeError):
    """An array's values were computed where the tape cannot see (a gap in strict.py)."""


class FreedArray(RuntimeError):
    """A replay needs an array made before the recording that is gone."""


class Tape:
    """The calls of one recorded step: (fn, args, kwargs, targets), targets being the arrays
    fn returned new, as (position in its results, plain NumPy view of them)."""

    def __init__(self):
        self.calls = []
        self.made = {}  # id -> the memory (a view's last base) of every array the recording made

    def note(self, fn, args, kwargs, result):
        given = [a for a in _items(args) + _items(tuple(kwargs.values())) if isinstance(a, numpy.ndarray)]
        targets = [(position, r.view(numpy.ndarray)) for position, r in enumerate(_results(result))
                   if isinstance(r, numpy.ndarray) and r.flags.writeable
                   and not any(_share(r, a) for a in given)]
        for _, target in targets:
            self.made[id(_owner(target))] = _owner(target)
        if targets or fn not in VIEWS:
            self.calls.append((fn, _frozen(args), dict(kwargs), targets))

    def finish(self):
        """Let go of the arrays made before the recording: from now on they are weak views."""
        self.calls = [(fn, self._held(args), {k: self._held(v) for k, v in kwargs.items()}, targets)
                      for fn, args, kwargs, targets in self.calls]

    def _held(self, value):
        if isinstance(value, numpy.ndarray):
            owner = _owner(value)
            if id(owner) in self.made or not isinstance(owner, numpy.ndarray):
                return value
            return WeakView(value, owner)
        if type(value) in (tuple, list):
            return type(value)(self._held(v) for v in value)
        return value

    def launch(self):
        """Replay the step: every call again, its new arrays copied into the recording's."""
        for fn, args, kwargs, targets in self.calls:
            results = _results(fn(*_live(args), **{k: _live(v) for k, v in kwargs.items()}))
            for position, target in targets:
                numpy.copyto(target, numpy.asarray(results[position]).view(numpy.ndarray))


class WeakView:
    """An array made before the recording, as a graph holds it: its place in memory whose owner
    it does not keep alive."""

    def __init__(self, view, owner):
        self.owner, self.type, self.writeable = weakref.ref(owner), type(view), view.flags.writeable
        self.layout = (view.shape, view.dtype, view.strides, _address(view) - _address(owner))

    def array(self):
        owner = self.owner()
        shape, dtype, strides, offset = self.layout
        if owner is None:
            raise FreedArray(f"the step reads an array of shape {shape} and dtype {dtype} that was made "
                             "before it was captured and has been freed since: a CUDA graph would "
                             "read freed memory here. Keep what a captured step reads alive and "
                             "update it in place (x[...] = y), not rebind it (x = y)")
        memory = owner.view(numpy.ndarray).reshape(-1, order="A").view(numpy.uint8)
        view = numpy.ndarray(shape, dtype, buffer=memory, offset=offset, strides=strides).view(self.type)
        view.flags.writeable = self.writeable
        return view


def _live(value):
    """value with its WeakViews made arrays again (one level into tuples and lists)."""
    if isinstance(value, WeakView):
        return value.array()
    if type(value) in (tuple, list):
        return type(value)(_live(v) for v in value)
    return value


@contextlib.contextmanager
def recorded():
    """Record the array operations of the block into a new Tape, which it yields."""
    global recording
    if recording is not None:
        raise RuntimeError("a tape is already being recorded")
    new = recording = Tape()
    try:
        yield new
    finally:
        recording = None
    new.finish()


def run(fn, *args, **kwargs):
    """fn(*args, **kwargs), noted on the tape being recorded (unless within a call noted)."""
    global _inside
    if recording is None or _inside:
        return fn(*args, **kwargs)
    _inside = True
    try:
        result = fn(*args, **kwargs)
    finally:
        _inside = False
    result = _scalars_as_arrays(result)
    recording.note(fn, args, kwargs, result)
    return result


def check_made(array, source):
    """Called as each strict array is made: while recording, new memory made outside `run`
    would keep the recording's values at every replay, so say where the gap is."""
    if recording is None or _inside:
        return
    if not isinstance(source, numpy.ndarray) or not _share(array, source):
        raise UnrecordedArray(f"a strict array of shape {array.shape} was computed outside "
                              "minigrad.tape.run, so a replay would not compute it again: route the "
                              "operation that made it through tape.run (minigrad/strict.py)")


VIEWS = {numpy.ndarray.__getitem__, numpy.ndarray.reshape}  # a view needs no replay; a copy does


def _scalars_as_arrays(result):
    """A NumPy scalar (a full reduction) as a 0-d array, memory a replay can write into: the
    strict backend makes 0-d arrays of them anyway, as CuPy returns."""
    if isinstance(result, numpy.generic):
        return numpy.asarray(result)
    if isinstance(result, tuple):
        return tuple(_scalars_as_arrays(r) for r in result)
    return result


def _owner(array):
    """The object whose memory `array` views: the last of its .base chain."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def _address(array):
    return array.__array_interface__["data"][0]


def _share(a, b):
    """Whether arrays a and b may share memory (as plain arrays: strict ones would dispatch)."""
    return numpy.may_share_memory(a.view(numpy.ndarray), b.view(numpy.ndarray))


def _results(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _items(values):
    """values, and one level into the tuples and lists among them (concatenate's arrays)."""
    items = []
    for value in values:
        items.extend(value if isinstance(value, (tuple, list)) else [value])
    return items


def _frozen(args):
    """args with their lists copied: the step's Python may change a list after the call."""
    return tuple(list(a) if type(a) is list else a for a in args)
