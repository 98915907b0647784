"""The training loop with --capture on, on the CPU: every model's step keeps the rules of a
captured CUDA graph (minigrad/capture.py), checked on the strict backend through the real
command line; a step that breaks one is refused saying so; a captured run, its step replayed
from a tape as a graph replays (minigrad/tape.py), trains as the eager one drawing the same
random numbers, resumes exactly, and its checkpoints resume eagerly and back. What only a GPU
can show (a graph replayed, its speed) is benchmarks/gpu_check.sh's."""
import contextlib
import dataclasses
import shutil

import numpy as np
import pytest

import minigrad.capture
from gan import models
from gan.models import gan as vanilla
from gan.training import checkpoint, stepping
from gan_fixtures import mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)
from minigrad import backend, blas, kernels, tape
from minigrad.random import use_splitmix64
from minigrad.strict import StrictArray

TINY = ("--limit", 64, "--batch-size", 8, "--log-every", 2, "--sample-every", 1000)
RUNS = {  # every model, every --arch, both conditional discriminators, the SGAN's baseline
    "gan": ("gan",), "dcgan": ("dcgan",), "dcgan-infogan": ("dcgan", "--arch", "infogan"),
    "dcgan-infogan-sn": ("dcgan", "--arch", "infogan-sn"), "dcgan-keras": ("dcgan", "--arch", "keras"),
    "sgan": ("sgan", "--num-labeled", 20), "sgan-supervised-only": ("sgan", "--num-labeled", 20, "--supervised-only"),
    "sgan-improved": ("sgan", "--model", "improved", "--num-labeled", 20, "--d-ema", 0.9),
    "wgan_gp": ("wgan_gp",), "wgan_gp-critic-2": ("wgan_gp", "--n-critic", 2, "--no-code"),
    "cgan": ("cgan",), "cgan-acgan": ("cgan", "--discriminator", "acgan"),
}

GPUS_ROUTE = pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler to run the kernels on the CPU")


@pytest.fixture
def strict_only(backend):
    """The rules see most on strict (a host read of a strict array is caught where it happens)."""
    if backend != "strict":
        pytest.skip("the capture rules are checked on the strict backend")


@pytest.fixture
def checks(monkeypatch):
    """How many steps ran checked by the capture rules."""
    count, real_rules = [], minigrad.capture.rules

    def counted(*objects, **settings):
        count.append(1)
        return real_rules(*objects, **settings)
    monkeypatch.setattr(minigrad.capture, "rules", counted)
    return count


def train(out, mnist_dir, *argv, iterations=6, capture="on", backend="strict"):
    model, *flags = argv
    return run_example(model, *flags, *TINY, "--iterations", iterations, "--capture", capture,
                       "--backend", backend, "--out", out, "--data-dir", mnist_dir)


@pytest.fixture
def replays(monkeypatch):
    """How many steps were replays of a recorded tape (minigrad/tape.py)."""
    count, launch = [], tape.Tape.launch

    def counted(self):
        count.append(1)
        return launch(self)
    monkeypatch.setattr(tape.Tape, "launch", counted)
    return count


def train_both_ways(tmp_path, mnist_dir, *argv, iterations):
    """A captured run (tmp_path/captured) and an eager one (tmp_path/eager) of argv, both
    drawing from SplitMix64 (as a captured run must, and as CuPy does)."""
    previous = use_splitmix64(True)
    try:
        assert train(tmp_path / "captured", mnist_dir, *argv, iterations=iterations) == 0
        assert train(tmp_path / "eager", mnist_dir, *argv, iterations=iterations, capture="off") == 0
    finally:
        use_splitmix64(previous)


def assert_same_training(captured_dir, eager_dir):
    """The weights, optimizer state and logged numbers of two runs agree to float32 rounding:
    --capture on keeps the optimizers' counters on the device, so its bias corrections round
    otherwise than the eager run's Python floats."""
    captured, meta_c = checkpoint.read_training(captured_dir / "latest.npz")
    eager, meta_e = checkpoint.read_training(eager_dir / "latest.npz")
    assert sorted(captured) == sorted(eager) and meta_c["state"]["rng"] == meta_e["state"]["rng"]
    for name in captured:
        np.testing.assert_allclose(captured[name], eager[name], rtol=1e-5, atol=1e-7, err_msg=name)
    rows_c, rows_e = read_metrics(captured_dir), read_metrics(eager_dir)
    assert len(rows_c) == len(rows_e)
    for row_c, row_e in zip(rows_c, rows_e):
        assert row_c.keys() == row_e.keys()
        for key in row_c.keys() - {"seconds"}:
            assert row_c[key] == pytest.approx(row_e[key], rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("name", RUNS)
def test_every_models_captured_run_keeps_the_rules_and_trains_as_the_eager_one(name, mnist_dir, tmp_path, checks,
                                                                             replays, capsys, strict_only):
    """1 iteration that learns what the step reads, 3 warm-up calls, 1 captured under the
    rules (recorded into a tape, minigrad/tape.py), then 3 replays without the step's Python,
    as a graph's; the eager run takes the same batches and draws the same numbers."""
    train_both_ways(tmp_path, mnist_dir, *RUNS[name], iterations=8)
    assert len(checks) == 1 and len(replays) == 3
    rows = read_metrics(tmp_path / "captured")
    assert [row["iteration"] for row in rows] == [2, 4, 6, 8]
    assert all(np.isfinite(value) for row in rows for value in row.values())
    assert_same_training(tmp_path / "captured", tmp_path / "eager")


@GPUS_ROUTE
@pytest.mark.parametrize("name", ["wgan_gp", "sgan-improved", "cgan"])  # the DCGAN's: compared with eager below
def test_the_gpus_route_keeps_the_rules_of_capture_too(name, mnist_dir, tmp_path, checks, replays, capsys,
                                                      strict_only):
    # with the fused kernels (minigrad/kernels.py) in place of the NumPy passes, as on CuPy
    with kernels.emulated():
        assert train(tmp_path, mnist_dir, *RUNS[name]) == 0, capsys.readouterr().err
    assert len(checks) == 1 and len(replays) == 1
    assert all(np.isfinite(value) for row in read_metrics(tmp_path) for value in row.values())


def test_a_step_that_reads_on_the_host_is_refused_saying_where(mnist_dir, tmp_path, monkeypatch, capsys, strict_only):
    def step_that_reads(nets, batches, options):
        numbers = vanilla.gan_step(nets, batches)
        print(f"d_loss {float(numbers['d_loss']):.3f}")  # a host read: a replay would not print
        return numbers
    monkeypatch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step_that_reads))
    assert train(tmp_path, mnist_dir, "gan") == 1
    err = capsys.readouterr().err
    assert "error:" in err and "captured step" in err and "Traceback" not in err


def test_a_captured_runs_first_iteration_multiplies_as_its_step(mnist_dir, tmp_path, monkeypatch, strict_only):
    """The first iteration runs outside the step (it learns what the step reads), inside
    CapturedStep.same_products: on CuPy the step's products are cuBLAS called directly, and a
    run resumed at any iteration must multiply there as a straight one did."""
    inside, during = [False], []

    @contextlib.contextmanager
    def same_products(step):
        inside[0] = True
        yield
        inside[0] = False

    def step(nets, batches, options):
        during.append(inside[0])
        return vanilla.gan_step(nets, batches)
    monkeypatch.setattr(minigrad.capture.CapturedStep, "same_products", same_products)
    monkeypatch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step))
    assert train(tmp_path, mnist_dir, "gan", iterations=2) == 0
    assert during == [True, False]  # on the CPU the step's own calls need no context


HOST_READS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist")  # as in strict.py


@pytest.mark.parametrize("name, flags", [  # the learning rates decay, so are set every iteration
    ("dcgan", ("--lr-decay-start", 0.5)), ("wgan_gp", ("--lr-decay-start", 0.5)),
    ("sgan-improved", ("--lr-decay-start", 0.5, "--eval-every", 14)), ("cgan", ())])
def test_between_its_log_rows_a_captured_run_reads_nothing_on_the_host(name, flags, mnist_dir, tmp_path, monkeypatch,
                                                                       strict_only):
    """A device value read on the host waits for the GPU to finish what it was given. The rules
    keep such reads out of the step; this keeps them out of the loop around it: between the log
    rows (and the checkpoints and grids) a captured run only queues work, so the host can run
    ahead of the GPU instead of waiting for it every iteration."""
    steps, reads = [0], set()  # how many steps have begun; the steps during which the host read

    def counted(method):
        def call(*args, **kwargs):
            reads.add(steps[0])
            return method(*args, **kwargs)
        return call
    for read in HOST_READS:
        monkeypatch.setattr(StrictArray, read, counted(getattr(StrictArray, read)))
    monkeypatch.setattr(backend, "to_numpy", counted(backend.to_numpy))
    take_step = stepping.CapturedSteps.__call__

    def step(self):
        steps[0] += 1
        return take_step(self)
    monkeypatch.setattr(stepping.CapturedSteps, "__call__", step)

    assert run_example(*RUNS[name], *flags, "--limit", 64, "--batch-size", 8, "--iterations", 14,
                       "--log-every", 7, "--checkpoint-every", 14, "--sample-every", 14,
                       "--capture", "on", "--backend", "strict", "--out", tmp_path, "--data-dir", mnist_dir) == 0
    eager = set(range(1 + 3 + 1))  # before the first step, the recorded iteration, the 3 warm-ups
    assert reads - eager == {7, 14}  # the log rows; at 14 also the checkpoint and the grids


@pytest.mark.parametrize("name, flags, route", [  # the learning rates decay from iteration 5: set between replays
    ("dcgan", ("--lr-decay-start", 0.5), "numpy passes"), ("sgan-improved", ("--lr-decay-start", 0.5), "numpy passes"),
    pytest.param("dcgan", ("--lr-decay-start", 0.5), "kernels", marks=GPUS_ROUTE)])  # WGAN-GP decays by default:
    # its replays above run at decaying rates already
def test_a_captured_run_trains_as_the_eager_one_while_its_learning_rates_decay(name, flags, route, mnist_dir, tmp_path,
                                                                             replays, strict_only):
    """The schedule writes the optimizers' device rates between replays; 5 replays here. On the
    kernels' route, the fused kernels are replayed too (the capturable Adam's counters and bias
    corrections, the draws)."""
    with kernels.emulated() if route == "kernels" else contextlib.nullcontext():
        train_both_ways(tmp_path, mnist_dir, *RUNS[name], *flags, iterations=10)
    assert len(replays) == 5
    assert_same_training(tmp_path / "captured", tmp_path / "eager")


def test_a_captured_run_stopped_and_resumed_equals_a_straight_one(mnist_dir, tmp_path, strict_only):
    # straight: replays from iteration 7; resumed: replays at 6, then again at 12
    assert train(tmp_path / "straight", mnist_dir, "gan", iterations=12) == 0
    assert train(tmp_path / "resumed", mnist_dir, "gan", iterations=6) == 0
    assert train(tmp_path / "resumed", mnist_dir, "gan", "--resume", iterations=12) == 0
    straight, _ = checkpoint.read_training(tmp_path / "straight" / "latest.npz")
    resumed, meta = checkpoint.read_training(tmp_path / "resumed" / "latest.npz")
    assert meta["iteration"] == 12
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)


@pytest.mark.parametrize("first, then", [("on", "off"), ("off", "on")])
def test_checkpoints_go_between_the_two_modes(first, then, mnist_dir, tmp_path, strict_only):
    assert train(tmp_path, mnist_dir, "dcgan", iterations=3, capture=first) == 0
    assert train(tmp_path, mnist_dir, "dcgan", "--resume", iterations=6, capture=then) == 0
    arrays, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["iteration"] == 6 and meta["optimizers"]["D"]["state.0.step"] == 6
    assert all(np.isfinite(value).all() for value in arrays.values())


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["gan", "dcgan", "wgan_gp"])
def test_on_a_gpu_the_captured_run_trains_as_the_eager_one(name, backend, mnist_dir, tmp_path, capsys):
    """On CuPy both draw from SplitMix64: the graph's replays must train as the Python did.
    The eager run multiplies as every iteration of the captured one does, through cuBLAS
    called directly. CuPy's own `@` makes other cuBLAS calls, which may round a product
    otherwise in its last bit, and Adam divides a gradient by its own size: a flipped bit of
    a gradient near zero moves its weight by up to a learning rate, no longer rounding. That
    each product equals CuPy's to the rounding of its sums is test_blas.py's to check."""
    if backend != "cupy":
        pytest.skip("needs CuPy and an NVIDIA GPU: python -m pytest --backend cupy")
    assert train(tmp_path / "on", mnist_dir, *RUNS[name], iterations=8, capture="on", backend="cupy") == 0
    with blas.calling_cublas():
        assert train(tmp_path / "off", mnist_dir, *RUNS[name], iterations=8, capture="off", backend="cupy") == 0
    assert "cannot be captured" not in capsys.readouterr().err  # the graph ran, not a fallback
    captured, _ = checkpoint.read_training(tmp_path / "on" / "latest.npz")
    eager, _ = checkpoint.read_training(tmp_path / "off" / "latest.npz")
    for key in captured:
        np.testing.assert_allclose(captured[key], eager[key], rtol=1e-5, atol=1e-7, err_msg=key)
