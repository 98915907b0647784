"""One iteration of the loop, the recipe's step and the moving averages' update, taken in one
of two ways (--capture):

- `EagerStep`: the Python runs every iteration, op by op. The readable reference, and the
  default but on CuPy.
- `CapturedSteps`: the step captured into a CUDA graph once and replayed every iteration with
  one launch (minigrad/capture.py), the default on CuPy. On strict the graph is a tape of the
  step's array operations, recorded under the capture rules and replayed without the step's
  Python (minigrad/tape.py); on numpy each step runs checked by the rules. The same code path:
  how the CPU (and CI) tests that every model's step can be captured and trains replayed.

A step asks its batch source for what it needs (`next_images()`, `next_labeled()`, ...): the
source picks indices on the host and copies the images to the device, which a replay would not
repeat. So the first iteration runs eagerly through a `Recorder` that notes what the step asks
for (its products computed as the captured step's: `CapturedStep.same_products`). From then on,
before each step, `draw` asks the real source for the same, outside the step (the same batches,
in the same order, as an eager run), and the step gets a `Replay` of them: the captured step's
own input tensors.
"""
from minigrad.capture import CapturedStep


def update_averages(nets):
    """The moving averages of G and D follow one step of their networks."""
    for average in (nets.g_average, nets.d_average):
        if average is not None:
            average.update()


class EagerStep:
    def __init__(self, run):
        self.run = run

    def __call__(self):
        run = self.run
        numbers = run.recipe.step(run.nets, run.batches, run.config.options)
        update_averages(run.nets)
        return numbers


class CapturedSteps:
    def __init__(self, run):
        self.run = run
        self.calls = None      # what the step asks its batch source for, once recorded
        self.captured = None   # the CapturedStep, made after the first iteration

    def __call__(self):
        run = self.run
        if self.calls is None:
            nets = run.nets
            state = (nets.generator, nets.discriminator, nets.g_optimizer, nets.d_optimizer,
                     nets.g_average, nets.d_average)
            self.captured = CapturedStep(self.step_on, *(s for s in state if s is not None))
            recorder = Recorder(run.batches)
            with self.captured.same_products():  # as every later iteration: resumed runs match straight ones
                numbers = run.recipe.step(run.nets, recorder, run.config.options)
                update_averages(run.nets)
            self.calls = recorder.calls
            return numbers
        return self.captured(*draw(run.batches, self.calls))

    def step_on(self, *inputs):
        """The step on its input tensors: what is captured."""
        run = self.run
        numbers = run.recipe.step(run.nets, Replay(self.calls, inputs), run.config.options)
        update_averages(run.nets)
        return numbers


class Recorder:
    """A batch source's stand-in that passes each `next_*` call on and notes it: (method,
    arguments, keyword arguments, how many tensors it returned)."""

    def __init__(self, source):
        self.source, self.calls = source, []

    def __getattr__(self, name):
        method = getattr(self.source, name)
        if not name.startswith("next_"):
            return method

        def recorded(*args, **kwargs):
            result = method(*args, **kwargs)
            self.calls.append((name, args, kwargs, len(result) if isinstance(result, tuple) else 1))
            return result
        return recorded


def draw(source, calls):
    """The tensors the recorded `calls` ask `source` for now, in order, as one flat list."""
    tensors = []
    for name, args, kwargs, _ in calls:
        result = getattr(source, name)(*args, **kwargs)
        tensors.extend(result if isinstance(result, tuple) else [result])
    return tensors


class Replay:
    """A batch source that answers the recorded calls, in their order, with `tensors`."""

    def __init__(self, calls, tensors):
        self.calls, self.tensors, self.position, self.taken = calls, tensors, 0, 0

    def __getattr__(self, name):
        if not name.startswith("next_"):
            raise AttributeError(name)

        def answer(*args, **kwargs):
            expected, expected_args, expected_kwargs, count = self.calls[self.position]
            if (name, args, kwargs) != (expected, expected_args, expected_kwargs):
                raise RuntimeError(f"the step asked for {name}{args or ''}{kwargs or ''} where its first "
                                   f"iteration asked for {expected}: a captured step must ask its batch "
                                   "source for the same batches every iteration")
            result = self.tensors[self.taken:self.taken + count]
            self.position, self.taken = self.position + 1, self.taken + count
            return tuple(result) if count > 1 else result[0]
        return answer
