"""The tape (minigrad/tape.py): on the strict backend, a step's array operations recorded as it
runs once and replayed without its Python, as a CUDA graph replays the kernels it captured:
each operation computed again from what its arrays hold now, into the arrays the recording
returned, with the numbers the Python passed it then."""
import contextlib
import shutil

import numpy as np
import pytest

import minigrad
from minigrad import kernels, tape
from minigrad import random as mg_random
from minigrad.capture import CapturedStep
from minigrad.strict import strict as xp
from minigrad.tensor import Tensor


def host(a):
    return np.array(a.view(np.ndarray))


@pytest.fixture
def on_strict(backend):
    if backend != "strict":
        pytest.skip("the tape records strict arrays (a plain NumPy array has no hooks)")


def test_a_replay_computes_every_kind_of_operation_again_from_what_the_arrays_hold_now(on_strict):
    x = xp.arange(6, dtype=np.float32).reshape(2, 3)
    index = xp.asarray(np.array([1, 0, 1]))
    with tape.recorded() as recording:
        results = {
            "ufunc": (x * 2).sum(axis=0),
            "full reduction, 0-d": x.max(),
            "copy of a transpose": x.T.copy(),
            "reshape of a transpose (a copy)": x.T.reshape(6),
            "fancy index (a gather)": x[index],
            "astype": x.astype(np.float64),
            "argmax, 0-d": x.argmax(),
            "module function": xp.concatenate([x, -x]),
            "zeros, then written": xp.zeros((2, 3), dtype=np.float32),
            "zeros, then scattered into": xp.zeros(2, dtype=np.float32),
        }
        results["zeros, then written"][:, 1:] = x[:, :2]
        np.add.at(results["zeros, then scattered into"], index[:2], x[0, :2])
    new = np.array([[5, -1, 2], [0, 7, 3]], dtype=np.float32)
    x[...] = xp.asarray(new)  # as CapturedStep copies a new batch into its inputs
    kept = {name: id(array) for name, array in results.items()}
    recording.launch()
    expected = {
        "ufunc": (new * 2).sum(axis=0), "full reduction, 0-d": new.max(), "copy of a transpose": new.T,
        "reshape of a transpose (a copy)": new.T.reshape(6), "fancy index (a gather)": new[[1, 0, 1]],
        "astype": new.astype(np.float64), "argmax, 0-d": new.argmax(),
        "module function": np.concatenate([new, -new]),
        "zeros, then written": np.concatenate([np.zeros((2, 1)), new[:, :2]], axis=1),
        "zeros, then scattered into": np.array([new[0, 1], new[0, 0]]),
    }
    for name, array in results.items():
        assert id(array) == kept[name], name  # the same arrays, rewritten
        np.testing.assert_array_equal(host(array), expected[name], err_msg=name)


def test_numbers_the_python_passed_stay_the_recordings(on_strict):
    """As in a graph: a Python number is a kernel's argument, fixed at the capture."""
    x, scale = xp.ones(3, dtype=np.float32), 2.0
    with tape.recorded() as recording:
        y = x * scale
    scale = 3.0
    x[...] = 4
    recording.launch()
    np.testing.assert_array_equal(host(y), [8, 8, 8])
    assert scale == 3.0


def test_updates_in_place_happen_again_at_every_replay(on_strict):
    counter, total = xp.zeros((), dtype=np.int64), xp.zeros(2, dtype=np.float32)
    with tape.recorded() as recording:
        counter += 1
        total[...] = total + counter
    recording.launch()
    recording.launch()
    assert int(counter) == 3
    np.testing.assert_array_equal(host(total), [6, 6])


@pytest.mark.parametrize("route", ["numpy passes", pytest.param("kernels", marks=pytest.mark.skipif(
    shutil.which("g++") is None, reason="no C++ compiler to run the kernels on the CPU"))])
def test_a_replay_draws_the_next_random_numbers(route, on_strict):
    """The generators' counters are device arrays the draws advance: a replay draws what the
    next eager draw would have drawn, not the recording's numbers again."""
    previous = mg_random.use_splitmix64(True)
    try:
        with kernels.emulated() if route == "kernels" else contextlib.nullcontext():
            minigrad.manual_seed(7)
            mg_random.random_normal((4,), np.float32)  # a warm-up: the generator made before
            with tape.recorded() as recording:
                drawn = mg_random.random_normal((4,), np.float32)
            recorded = host(drawn)
            recording.launch()
            minigrad.manual_seed(7)
            eager = [host(mg_random.random_normal((4,), np.float32)) for _ in range(3)]
    finally:
        mg_random.use_splitmix64(previous)
    np.testing.assert_array_equal(recorded, eager[1])
    np.testing.assert_array_equal(host(drawn), eager[2])
    assert not np.array_equal(eager[1], eager[2])


def test_an_array_computed_out_of_the_tapes_sight_is_refused(on_strict):
    x = xp.ones(3, dtype=np.float32)
    with tape.recorded(), pytest.raises(tape.UnrecordedArray, match="tape.run"):
        np.ndarray.copy(x)  # ndarray's own method, past strict.py's hook


def test_recordings_do_not_nest(on_strict):
    with tape.recorded(), pytest.raises(RuntimeError, match="already"):
        with tape.recorded():
            pass
    assert tape.recording is None


def test_a_captured_step_on_strict_replays_its_tape_without_its_python(on_strict):
    w = Tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    calls = []

    def fn(x):
        calls.append(1)
        return {"y": (x * w).sum()}

    step = CapturedStep(fn, w, warmup=2)
    for k in range(6):
        x = np.array([k, 1.0, 2.0 * k], dtype=np.float32)
        result = step(Tensor(x))
        assert float(result["y"].data) == pytest.approx(float(x @ host(w.data))), k
    assert len(calls) == 3  # 2 warm-ups and the capture; then 3 replays
    assert isinstance(step.graph, tape.Tape)


def test_a_replay_that_needs_an_array_made_before_it_and_freed_since_refuses(on_strict):
    """A graph holds what it made and only the addresses of the rest; so does a tape."""
    weights = {"w": xp.ones(3, dtype=np.float32)}
    with tape.recorded() as recording:
        y = weights["w"] * 2
    recording.launch()  # the owner keeps it alive
    np.testing.assert_array_equal(host(y), [2, 2, 2])
    weights["w"] = xp.zeros(3, dtype=np.float32)  # rebound, not updated in place
    with pytest.raises(tape.FreedArray, match="freed"):
        recording.launch()


def test_a_step_that_accumulates_into_last_steps_gradient_cannot_be_replayed(on_strict):
    """Without zero_grad, backward reads the gradient the last call left and rebinds .grad to
    a new array: the rules do not see it (a gradient is the step's output, not its state), but
    a graph would read the freed gradient of its capture at the first replay."""
    w = Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)

    def fn(x):
        (x * w).sum().backward()
        return {"grad": w.grad}

    step = CapturedStep(fn, w, warmup=1)
    x = Tensor(np.ones(2, dtype=np.float32))
    step(x)
    step(x)  # the capture, recorded
    with pytest.raises(tape.FreedArray, match="freed"):
        step(x)
