"""A training step captured into a CUDA graph and replayed, and its rules checked on the CPU.

On a GPU, Python launches a step's kernels one by one, and for small networks the launches,
not the GPU, set the pace. CuPy can record the kernels a step launches on a stream into a
CUDA graph (Stream.begin_capture / end_capture) and launch them all again with one call
(Graph.launch). A replay runs no Python, so a step can be captured only if it keeps three
rules (docs/capture.md says why each holds):

1. nothing read from the device on the host, drawn at random on the host, or copied from
   the host (minigrad/host_access.py refuses these where the engine would do them);
2. every array that outlives the step (parameters, buffers, optimizer state, generators,
   moving averages) made before it and updated in place, and no Python value of theirs
   changed by it (a Python step counter);
3. every array the step makes comes from its own memory pool, kept as long as the graph.

`rules(*objects)` checks a step against them, on any backend; on the strict backend it
catches everything the CPU can see. `CapturedStep(fn, *objects)` is the step itself: a few
eager warm-up calls, then, on CuPy, one captured call and replays; on strict, one call
recorded under `rules` into a tape (minigrad/tape.py) and replays of it, so that CI runs the
code path the GPU runs and trains as a graph would; on numpy, each later call under `rules`.
"""
import contextlib
import sys
import types
import weakref

import numpy

from . import backend, blas, host_access, random, tape
from .host_access import CaptureError
from .tensor import Tensor


class StepPool:
    """Where the arrays made during a step come from.

    On CuPy, a private cupy.cuda.MemoryPool that CuPy allocates from while the step is
    captured (cupy.cuda.using_allocator): the graph's kernels read and write its memory at
    every replay, so it must live as long as the graph and serve nothing else (PyTorch
    gives each graph a private pool for the same reason). On numpy and strict, a registry of
    the strict arrays made during the step, so that the rules can name a piece of state
    replaced by one of them.
    """

    def __init__(self, name=None):
        name = name or backend.get_backend()
        self.memory = backend.backend_module("cupy").cuda.MemoryPool() if name == "cupy" else None
        self.created = weakref.WeakValueDictionary()  # id -> strict array made during the step

    def record(self, array):
        self.created[id(array)] = array

    def made(self, array):
        """Whether `array` was made during the step (strict arrays only)."""
        return self.created.get(id(array)) is array

    def allocating(self):
        """A context in which CuPy allocates from this pool; nothing to do elsewhere."""
        if self.memory is None:
            return contextlib.nullcontext()
        return backend.backend_module("cupy").cuda.using_allocator(self.memory.malloc)


@contextlib.contextmanager
def rules(*objects, pool=None):
    """Check that the step run inside the block keeps the rules of capture, for the state of
    `objects` (modules, optimizers, moving averages; minigrad's random generators always):
    a host read, host random draw or host copy raises CaptureError where it happens; a
    piece of state replaced or a Python value changed raises it when the block ends.
    Yields the StepPool the step allocates from (a new one unless given)."""
    pool = pool or StepPool()
    objects = watched(objects)
    before, numpy_random = state_of(objects), numpy.random.get_state()
    outer, host_access.step_pool = host_access.step_pool, pool
    try:
        with pool.allocating():
            yield pool
    finally:
        host_access.step_pool = outer
    problems = compare(before, state_of(objects), pool)
    if not _same_numpy_random(numpy_random, numpy.random.get_state()):
        problems.append("numpy.random's global generator drew numbers (a host draw); draw with "
                        "minigrad.random after use_splitmix64(True)")
    if problems:
        raise CaptureError("the step changed what a replay would not change again:\n  - "
                           + "\n  - ".join(problems))


# ----------------------------------------------------------------------------- state
def watched(objects):
    """What the rules watch: the step's `objects` and minigrad's random generators."""
    return objects + (random.generators(),)


def one_line(error):
    return f"{type(error).__name__}: " + " ".join(str(error).split())


ARRAY, VALUE = "array", "value"
PLAIN = (bool, int, float, complex, str, bytes, type(None))
NOT_STATE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
             types.MethodType)


def state_of(objects):
    """path -> (ARRAY, the array) or (VALUE, a plain Python value), for everything reachable
    from `objects` through attributes, dicts, lists and tuples: what a replay must find as the
    capture left it. A Tensor contributes its .data; its .grad is the step's output, rewritten
    by each replay, not state."""
    found, seen = {}, set()

    def visit(value, path):
        if isinstance(value, (PLAIN, numpy.generic)):
            found[path] = (VALUE, value)
        elif _is_array(value):
            found[path] = (ARRAY, value)
        elif id(value) in seen or isinstance(value, NOT_STATE):
            return
        elif isinstance(value, Tensor):
            seen.add(id(value))
            visit(value.data, f"{path}.data")
        elif isinstance(value, dict):
            seen.add(id(value))
            for key, item in value.items():
                visit(item, f"{path}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            seen.add(id(value))
            found[f"{path} length"] = (VALUE, len(value))
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")
        elif hasattr(value, "__dict__"):
            seen.add(id(value))
            for name, item in vars(value).items():
                visit(item, f"{path}.{name}")

    for i, obj in enumerate(objects):
        visit(obj, _label(obj, i, objects))
    return found


def _label(obj, i, objects):
    if obj is random.generators():
        return "minigrad.random generators"
    name = type(obj).__name__
    return name if sum(type(o).__name__ == name for o in objects) == 1 else f"{name}#{i}"


def _is_array(value):
    try:
        backend.backend_of(value)
    except TypeError:
        return False
    return True


def compare(before, after, pool):
    """What changed between two state_of() snapshots, as sentences that say what to do."""
    problems = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            problems.append(f"{path} was made during the step (state made lazily, e.g. an "
                            "optimizer's moments at its first step): run the step once before "
                            "capturing it (CapturedStep's warm-up does)")
        elif path not in after:
            problems.append(f"{path} was removed during the step")
        else:
            (kind, old), (new_kind, new) = before[path], after[path]
            if kind == new_kind == ARRAY and old is new:
                continue
            if kind == new_kind == VALUE and (old == new or old != old and new != new):  # NaN
                continue
            if new_kind == ARRAY:
                made = "an array made during the step" if pool.made(new) else "another array"
                problems.append(f"{path} was replaced by {made}: state that outlives the step must "
                                "be made before it and updated in place (x[...] = y, x += y), "
                                "since a replay writes only to the arrays the capture saw")
            else:
                problems.append(f"{path} changed from {old!r} to {new!r}: a Python value, which a "
                                "replay would not change again; keep it in a device array updated "
                                "in place (optimizers and ExponentialMovingAverage: capturable=True)")
    return problems


def _same_numpy_random(a, b):
    return a[0] == b[0] and a[2:] == b[2:] and numpy.array_equal(a[1], b[1])


# ----------------------------------------------------------------------------- the step
class CapturedStep:
    """One training step, `fn(*inputs)`, run as a CUDA graph on CuPy: build it once with the
    objects whose state the step updates (for the rules), then call it every iteration:

        step = CapturedStep(train_step, G, D, g_optimizer, d_optimizer, g_average)
        for real in batches:
            losses = step(real)            # a dict of 0-d tensors, read after the call

    fn returns its results as tensors or device arrays (losses as 0-d tensors: no .item()
    inside). `inputs` are tensors of the same shapes every call (a batch of real images on
    the device): each call copies them into the step's own input tensors, which is what fn
    (and the graph) reads.

    On CuPy every matrix product of fn calls cuBLAS directly (minigrad/blas.py: CuPy refuses
    cuBLAS while capturing; the first call checks that this works; `same_products()` gives
    the same products to code run outside the step). The first `warmup` calls run fn eagerly
    on a side stream (kernels compiled and loaded, cuBLAS's too, optimizer state and
    generators made); the next call captures fn into a graph, with every allocation from a
    private StepPool, and launches it (the capture itself runs nothing); every later call
    launches the graph once and returns the same result objects, rewritten by the replay. If
    the capture fails (a CaptureError, or an error from CuPy), one line says why and fn runs
    eagerly from then on, this call included; unless trying changed the state (a rule
    broken), which raises. On strict the capture's stand-in is a tape, recorded as fn runs
    under `rules` and replayed at every later call without fn's Python; a broken rule raises.
    On numpy (no tape) each call after the warm-up runs fn under `rules`.
    """

    def __init__(self, fn, *objects, warmup=3):
        self.fn, self.objects, self.warmup = fn, objects, warmup
        self.on_gpu = backend.get_backend() == "cupy"
        self.calls = 0
        self.inputs = None   # the step's own input tensors, read by fn and by the graph
        self.graph = None    # the captured CUDA graph (CuPy), once captured
        self.pool = None     # its private StepPool, alive as long as the graph
        self.outputs = None  # fn's results at the capture, rewritten by every replay
        self.generators = None  # the random generators the graph draws from, kept alive with it
        self.eager_because = None  # why the capture failed, if it did
        self.blas_checked = False  # on CuPy: whether blas.check() has run
        self.stream = backend.backend_module("cupy").cuda.Stream(non_blocking=True) if self.on_gpu else None

    def __call__(self, *inputs):
        self._copy_in(inputs)
        self.calls += 1
        if self.graph is not None:
            self._check_generators()
            self.graph.launch()  # on the current stream, after the inputs' copies
            return self.outputs
        if self.on_gpu:
            self._check_blas()
        if self.calls <= self.warmup or self.eager_because is not None:
            return self._eager()
        if not self.on_gpu:
            return self._record()
        return self._capture()

    def _copy_in(self, inputs):
        if self.inputs is None:  # the first call: the step's own tensors, copies of these
            self.inputs = [Tensor._wrap(backend.get_array_module(x.data).array(x.data)) for x in inputs]
            return
        if len(inputs) != len(self.inputs):
            raise TypeError(f"CapturedStep: called with {len(inputs)} inputs, captured with "
                            f"{len(self.inputs)}")
        for mine, x in zip(self.inputs, inputs):
            if x.shape != mine.shape or x.dtype != mine.dtype:
                raise ValueError(f"CapturedStep: an input of shape {x.shape} and dtype {x.dtype} "
                                 f"for one captured as {mine.shape}, {mine.dtype}: a graph replays "
                                 "fixed shapes (drop the last, short batch)")
            mine.data[...] = x.data

    def _check_generators(self):
        """The graph advances the device arrays of the generators it was captured with;
        minigrad.manual_seed makes new ones, which a replay would never draw from."""
        current = random.generators()
        if any(current.get(key) is not source for key, source in self.generators.items()):
            raise CaptureError("minigrad's random generators were made anew (minigrad.manual_seed) "
                               "after the step was captured, and its graph draws from the old ones: "
                               "seed before the step's first call, or make a new CapturedStep")

    def _check_blas(self):
        """Products will call cuBLAS directly (minigrad/blas.py): first see, once, that it works."""
        if self.blas_checked:
            return
        self.blas_checked = True
        try:
            blas.check()
        except Exception as error:
            self._give_up(error)

    def same_products(self):
        """A context in which products are computed as the step's: on CuPy, by cuBLAS called
        directly (checked first), unless the step runs eagerly; elsewhere as always. The
        warm-ups run in it, and so can an iteration run outside the step (a training run's
        first, which learns what the step reads). Every iteration of a captured run then
        multiplies alike, and a run resumed anywhere takes the route a straight one took there:
        one cuBLAS call gives the same bits every time, two may differ in the last."""
        if self.on_gpu:
            self._check_blas()
        if not self.on_gpu or self.eager_because is not None:
            return contextlib.nullcontext()
        return blas.calling_cublas()

    def _give_up(self, error):
        """Run eagerly from now on, saying why in one line."""
        self.eager_because = one_line(error)
        print(f"minigrad.capture: the step cannot be captured ({self.eager_because}); it runs eagerly",
              file=sys.stderr)

    def _eager(self):
        if not self.on_gpu or self.eager_because is not None:
            return self.fn(*self.inputs)
        # the very calls the capture will record: kernels compiled and loaded, cuBLAS's too
        with self._on_side_stream(), self.same_products():
            return self.fn(*self.inputs)

    @contextlib.contextmanager
    def _on_side_stream(self):
        """Run the block on self.stream, after what the current stream has queued (the inputs'
        copies), and make the current stream wait for it: capture needs a stream of its own."""
        current = backend.backend_module("cupy").cuda.get_current_stream()
        self.stream.wait_event(current.record())
        try:
            with self.stream:
                yield
        finally:  # after an error too: what the side stream was given comes first
            current.wait_event(self.stream.record())

    def _capture(self):
        pool = StepPool("cupy")
        before = state_of(watched(self.objects))
        try:
            with self._on_side_stream(), rules(*self.objects, pool=pool):
                self.stream.begin_capture()
                try:
                    outputs = self.fn(*self.inputs)
                except BaseException:
                    _end_capture_quietly(self.stream)
                    raise
                graph = self.stream.end_capture()
        except Exception as error:
            # The capture ran the step's Python but none of its kernels: state it rebound now
            # points at memory never written, and an eager step from there would train on it.
            changed = compare(before, state_of(watched(self.objects)), pool)
            if changed:
                raise CaptureError(f"the step cannot be captured ({one_line(error)}), and trying changed "
                                   "its state: " + "; ".join(changed)) from error
            self._give_up(error)
            return self._eager()
        self.graph, self.pool, self.outputs = graph, pool, outputs
        self.generators = dict(random.generators())
        self.graph.launch()  # the capture recorded the kernels without running them
        return self.outputs

    def _record(self):
        """The capture's stand-in on the CPU: fn run under the rules; on strict, its array
        operations recorded into a Tape (minigrad/tape.py) that every later call replays, as a
        graph, without fn's Python. numpy has no tape: each call runs fn under the rules."""
        if backend.get_backend() != "strict":
            with rules(*self.objects):
                return self.fn(*self.inputs)
        with rules(*self.objects), tape.recorded() as recording:
            outputs = self.fn(*self.inputs)
        self.graph, self.outputs = recording, outputs
        self.generators = dict(random.generators())
        return outputs


def _end_capture_quietly(stream):
    """Leave capture mode after fn failed: the graph is invalid anyway, and its own error
    from end_capture would hide fn's, which says why."""
    try:
        stream.end_capture()
    except Exception:
        pass
