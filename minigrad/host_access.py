"""What a captured step may not do on the host, and the one switch that makes the engine refuse it.

A CUDA graph replays the kernels of a step without running its Python (docs/capture.md).
So three things a step can do on the host cannot be replayed:

- read a device value on the host (`loss.item()`, `if (x > 0).any():`): a synchronisation,
  and the value read is the capture's, never the replay's;
- draw random numbers on the host: every replay would use the numbers of the capture;
- copy host data to the device (`Tensor([1.0, 2.0])`): every replay copies the same data.

While minigrad.capture checks or captures a step, `step_pool` is that step's StepPool and
the engine's places that would do one of these call `refuse`, which raises CaptureError
there, with what to do instead. The rest of the time it is None, and each of those places
costs one comparison. This module imports nothing of minigrad, so that every floor of the
engine (strict.py at the bottom) can look at the switch.
"""


class CaptureError(RuntimeError):
    """A step did something that a captured CUDA graph cannot replay."""


step_pool = None  # the StepPool of the step being checked or captured; None outside one

READ_INSTEAD = ("keep the value on the device: return it from the step (a 0-d tensor) and read "
                "it after the step, or compute with it on the device (xp.where instead of `if`)")
COPY_INSTEAD = ("create the array on the device (xp.zeros, xp.full; a number in arithmetic is a "
                "kernel argument and is allowed), or move the data before the step into an "
                "array the step reads (CapturedStep copies its inputs in before each replay)")


def refuse(what, instead):
    """Raise CaptureError for `what`, done inside a captured step; `instead` says what to do."""
    raise CaptureError(f"{what} inside a captured step: a replay would not repeat it. Instead, {instead}.")
