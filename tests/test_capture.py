"""The rules a step keeps to be captured into a CUDA graph (minigrad/capture.py), checked on
the CPU: each rule raises on a toy step that breaks it and passes one that keeps it, on the
strict backend (and on numpy where it can see the breach); a whole GAN-like training step
passes them after its warm-up. The captured replay itself needs a GPU: the tests marked
`gpu` at the end, skipped here.
"""
import contextlib

import numpy as np
import pytest

import minigrad
from minigrad import backend as mg_backend
from minigrad import blas, capture, host_access, nn, optim
from minigrad import functional as F
from minigrad import random as mg_random
from minigrad.capture import CapturedStep, CaptureError, rules
from minigrad.strict import strict
from minigrad.tensor import Tensor


@pytest.fixture
def on_strict(backend):
    """For the rules only strict arrays can show (a plain NumPy array has no hooks)."""
    if backend != "strict":
        pytest.skip("seen on the strict backend only")


@pytest.fixture
def splitmix64_everywhere():
    mg_random.use_splitmix64(True)
    yield
    mg_random.use_splitmix64(False)


def check(step, *objects):
    """Run `step` once under the rules, watching `objects`."""
    with rules(*objects):
        return step()


# ----------------------------------------------------------------------------- host reads
def x():
    return minigrad.tensor([[1.0, -2.0], [3.0, 4.0]])


@pytest.mark.parametrize("read", [
    pytest.param(lambda t: t.sum().item(), id="item"),
    pytest.param(lambda t: t.numpy(), id="numpy"),
    pytest.param(lambda t: mg_backend.to_numpy(t.data), id="to_numpy"),
    pytest.param(lambda t: float(t.data.sum()), id="float"),
    pytest.param(lambda t: int(t.data.argmax()), id="int"),
    pytest.param(lambda t: int((t.data > 0).sum()), id="int of a sum"),
    pytest.param(lambda t: bool((t.data > 0).any()), id="if"),
    pytest.param(lambda t: t.data.tolist(), id="tolist"),
    pytest.param(lambda t: t.data.sum().item(), id="array item"),
    pytest.param(lambda t: [0, 1, 2, 3, 4][(t.data > 0).sum()], id="python index"),
])
def test_a_host_read_inside_the_step_is_refused(on_strict, read):
    t = x()
    with pytest.raises(CaptureError,
                       match="on the host.* inside a captured step.*keep the value on the device"):
        check(lambda: read(t))
    assert host_access.step_pool is None  # the switch is off again after the error
    read(t)  # allowed outside the step


def test_values_that_stay_on_the_device_pass(on_strict):
    t = x()
    out = check(lambda: {"loss": (t * t).mean(), "positive": (t.data > 0).mean(),
                         "clipped": strict.where(t.data > 0, t.data, 0.0)})
    assert out["loss"].item() == pytest.approx(7.5)  # read after the step
    assert float(out["positive"]) == 0.75


def test_a_host_read_is_refused_on_numpy_too():
    t = x()
    with pytest.raises(CaptureError, match="reading a device array on the host"):
        check(lambda: t.sum().item())


# ----------------------------------------------------------------------------- host random
def test_a_host_random_draw_is_refused(on_strict):
    t = x()
    with pytest.raises(CaptureError, match=r"random draw from numpy's Generator.*use_splitmix64\(True\)"):
        check(lambda: F.dropout(t, 0.5))
    with pytest.raises(CaptureError, match="numpy.random's global generator drew numbers"):
        check(lambda: np.random.normal())


def test_a_draw_from_a_device_generator_made_before_the_step_passes(on_strict, splitmix64_everywhere):
    t = x()
    with pytest.raises(CaptureError,
                       match=r"generators\['strict-splitmix64'\]\.\w+ was made during the step"):
        check(lambda: F.dropout(t, 0.5))  # its first draw makes the generator: a warm-up is needed
    first = check(lambda: F.dropout(t, 0.5) + F.gaussian_noise(t, 0.1))
    again = check(lambda: F.dropout(t, 0.5) + F.gaussian_noise(t, 0.1))
    assert not np.array_equal(first.numpy(), again.numpy())  # the counter moved on the device


def test_a_host_random_draw_is_refused_on_numpy_too(backend):
    if backend == "cupy":
        pytest.skip("CuPy draws on the device, which a step may")
    with pytest.raises(CaptureError, match="numpy's Generator"):
        check(lambda: mg_random.random_uniform((3,), np.float32))


# ----------------------------------------------------------------------------- host copies
@pytest.mark.parametrize("copy", [
    pytest.param(lambda t: minigrad.tensor([1.0, 2.0]), id="tensor of a list"),
    pytest.param(lambda t: minigrad.tensor(np.ones(2)), id="tensor of a host array"),
    pytest.param(lambda t: mg_backend.as_array_like([1.0, 2.0], t.data), id="as_array_like of a list"),
    pytest.param(lambda t: mg_backend.as_array_like(np.ones(2), t.data), id="as_array_like of a host array"),
    pytest.param(lambda t: strict.asarray(np.ones(2)), id="xp.asarray of a host array"),
    pytest.param(lambda t: t[[0, 1]], id="indexing with a list"),
])
def test_a_host_to_device_copy_is_refused(on_strict, copy):
    t = x()
    with pytest.raises(CaptureError, match="from the host to the device|copies host data"):
        check(lambda: copy(t))


def test_numbers_in_arithmetic_and_arrays_made_on_the_device_pass(on_strict):
    """A number is a kernel argument, not a copy: `x * 2` and the constants ops make from it."""
    t = x()
    out = check(lambda: (t * 2.0 + 1 - np.float32(0.5), mg_backend.as_array_like(2.0, t.data),
                         strict.full((2,), 3.0), strict.asarray(t.data), minigrad.tensor(t.data)))
    np.testing.assert_array_equal(out[0].numpy(), [[2.5, -3.5], [6.5, 8.5]])


def test_a_host_copy_of_a_list_is_refused_on_numpy_too():
    with pytest.raises(CaptureError, match="copies host data"):
        check(lambda: minigrad.tensor([1.0]))


# ----------------------------------------------------------------------------- state
def model():
    return nn.Sequential(nn.Dense(2, 3), nn.BatchNorm(3), nn.LeakyReLU(0.2), nn.Dense(3, 1))


def loss_step(net, opt, data):
    def step():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(data), 1.0)
        loss.backward(inputs=opt.params)
        opt.step()
        return loss
    return step


def test_state_replaced_during_the_step_is_refused_and_updated_in_place_passes(backend):
    net = model()
    weight = net[0].weight

    def replace():
        weight.data = weight.data * 0.5

    def in_place():
        weight.data *= 0.5
    made = "an array made during the step" if backend == "strict" else "another array"
    with pytest.raises(CaptureError, match=rf"Sequential.0.weight.data was replaced by {made}.*in place"):
        check(replace, net)
    check(in_place, net)


def test_an_eager_optimizer_or_average_is_refused_and_a_capturable_one_passes(backend):
    """The Python step count of an eager Adam and the Python t of an eager moving average would
    not move on at a replay; capturable=True keeps them on the device."""
    data = x()
    for capturable in (False, True):
        net = model()
        opt = optim.Adam(net.parameters(), capturable=capturable)
        average = nn.ExponentialMovingAverage(net, 0.9, capturable=capturable)
        step = loss_step(net, opt, data)
        step()  # a warm-up step: the optimizer's moments are made
        average.update()

        def step_and_average():
            step()
            average.update()
        if capturable:
            check(step_and_average, net, opt, average)
        else:
            with pytest.raises(CaptureError) as error:
                check(step_and_average, net, opt, average)
            message = str(error.value)
            assert "Adam.state[0]['step'] changed from 1 to 2" in message
            assert "ExponentialMovingAverage._updates changed from 1 to 2" in message
            assert "capturable=True" in message


def test_optimizer_state_made_at_the_first_step_needs_a_warm_up(backend):
    net, data = model(), x()
    opt = optim.Adam(net.parameters(), capturable=True)
    with pytest.raises(CaptureError, match=r"Adam.state\[0\]\['exp_avg'\] was made during the step.*"
                                           "run the step once before capturing"):
        check(loss_step(net, opt, data), net, opt)
    check(loss_step(net, opt, data), net, opt)  # the failed check was the warm-up


def test_a_generator_counter_rebound_is_refused(on_strict, splitmix64_everywhere):
    source = mg_random.generator()

    def rebind():
        source.counter = source.counter + np.uint64(1)

    def advance():
        source.counter += np.uint64(1)
    with pytest.raises(CaptureError, match=r"generators\['strict-splitmix64'\].counter was replaced"):
        check(rebind)
    check(advance)


# ----------------------------------------------------------------------------- a whole step
class Toy:
    """A GAN of two tiny MLPs with every layer kind a step draws random numbers in or keeps
    statistics for: G with BatchNorm, D with GaussianNoise and Dropout; capturable Adams
    and a capturable moving average of G."""

    def __init__(self, capturable=True):
        self.G = nn.Sequential(nn.Dense(4, 16), nn.BatchNorm(16), nn.LeakyReLU(0.2), nn.Dense(16, 2),
                               nn.Tanh())
        self.D = nn.Sequential(nn.GaussianNoise(0.1), nn.Dense(2, 16), nn.LeakyReLU(0.2),
                               nn.Dropout(0.3), nn.Dense(16, 1))
        self.g_optimizer = optim.Adam(self.G.parameters(), lr=2e-3, betas=(0.5, 0.999),
                                      capturable=capturable)
        self.d_optimizer = optim.Adam(self.D.parameters(), lr=2e-3, betas=(0.5, 0.999),
                                      capturable=capturable)
        self.g_average = nn.ExponentialMovingAverage(self.G, 0.99, capturable=capturable)

    def objects(self):
        return self.G, self.D, self.g_optimizer, self.d_optimizer, self.g_average

    def step(self, real):
        """gan_step's game on a batch `real`: losses returned as 0-d tensors, not floats."""
        z = Tensor._wrap(mg_random.random_normal((real.shape[0], 4), minigrad.float32))
        fake = self.G(z)
        d_loss = (F.binary_cross_entropy_with_logits(self.D(real), 1.0)
                  + F.binary_cross_entropy_with_logits(self.D(fake.detach()), 0.0))
        self.d_optimizer.zero_grad()
        d_loss.backward(inputs=self.d_optimizer.params)
        self.d_optimizer.step()
        g_loss = F.binary_cross_entropy_with_logits(self.D(fake), 1.0)
        self.g_optimizer.zero_grad()
        g_loss.backward(inputs=self.g_optimizer.params)
        self.g_optimizer.step()
        self.g_average.update()
        return {"d_loss": d_loss, "g_loss": g_loss}


def batches(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [minigrad.tensor(rng.standard_normal((8, 2))) for _ in range(n)]


def test_a_whole_gan_step_passes_the_rules_after_its_warm_up(backend, splitmix64_everywhere):
    """CapturedStep on the CPU: warm-up calls eagerly, then the capture under the rules (on
    strict, recorded into a tape that the later calls replay; on numpy, every call checked);
    it trains as the plain eager loop does, number for number, and returns device scalars."""
    results = []
    for captured in (False, True):
        minigrad.manual_seed(3)
        toy = Toy()
        step = CapturedStep(toy.step, *toy.objects(), warmup=2) if captured else toy.step
        # on CuPy, eager products as the captured step's: cuBLAS called directly, not CuPy's @
        with contextlib.nullcontext() if captured else blas.calling_cublas():
            for real in batches():
                out = step(real)
                assert all(isinstance(v, Tensor) and v.shape == () and v.device == backend for v in out.values())
                results.append({k: v.item() for k, v in out.items()})
        results.append(toy.g_average.average.state_dict())
    eager, captured = results[:7], results[7:]
    for a, b in zip(eager, captured):
        for key in a:
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)
    assert toy.g_optimizer.state_dict()["state.0.step"] == 6 and toy.g_average.updates == 6


def test_a_step_with_eager_optimizers_fails_at_its_first_checked_call(backend, splitmix64_everywhere):
    toy = Toy(capturable=False)
    step = CapturedStep(toy.step, *toy.objects(), warmup=1)
    real = batches(1)[0]
    step(real)  # the warm-up runs eagerly
    with pytest.raises(CaptureError, match="changed from 1 to 2"):
        step(real)


def test_a_classifier_step_passes_and_its_label_check_stays_eager(on_strict, splitmix64_everywhere):
    """cross_entropy checks its labels on the host: in the warm-up, not inside the captured
    step (a replay could not repeat it); eagerly a wrong label still fails."""
    net = nn.Sequential(nn.Dense(2, 3), nn.Dropout(0.2), nn.Dense(3, 4))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, capturable=True)
    images, labels = x(), minigrad.tensor([1, 3], dtype=np.int64)

    def step(images, labels):
        opt.zero_grad()
        loss = F.cross_entropy(net(images), labels)
        loss.backward()
        opt.step()
        return loss
    captured = CapturedStep(step, net, opt, warmup=1)
    for _ in range(3):
        captured(images, labels)
    with pytest.raises(ValueError, match="class labels must be integers in"):
        F.cross_entropy(net(images), minigrad.tensor([1, 4], dtype=np.int64))


def test_upsampling_convolutions_make_their_constant_once(on_strict):
    """upsample_conv2d's phase matrix is a host constant: copied to the device at the first
    call, not at every one, so a step with one passes the rules after its warm-up."""
    layer = nn.Conv2D(2, 3, 5, padding=2)
    images = minigrad.tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 4)))

    def step():
        return F.upsample_conv2d(images, layer.weight, layer.bias, scale=2)
    first = step()
    np.testing.assert_array_equal(check(step, layer).numpy(), first.numpy())


def test_captured_step_inputs_keep_their_shape():
    step = CapturedStep(lambda a: a * 2.0, warmup=1)
    step(minigrad.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="fixed shapes"):
        step(minigrad.tensor(np.ones((1, 3))))


def test_capture_is_importable_and_minigrad_exports_it():
    assert minigrad.capture is capture and capture.CaptureError is host_access.CaptureError


# ----------------------------------------------------------------------------- on a GPU
# ------------------------------------------- the GPU's path, with CuPy's streams stood in for
class StandInCuPy:
    """What CapturedStep asks of CuPy on a GPU: streams, events, a memory pool and graphs. A
    "capture" here runs the kernels (NumPy does not wait), and a graph's launch counts itself:
    what this checks is the order of things, not a replay."""

    class Stream:
        def __init__(self, non_blocking=False):
            self.capturing, self.launches = False, 0

        def __enter__(self):
            return self

        def __exit__(self, *error):
            return False

        def record(self):
            return object()

        def wait_event(self, event):
            pass

        def begin_capture(self):
            self.capturing = True

        def end_capture(self):
            self.capturing = False
            return StandInCuPy.Graph(self)

    class Graph:
        def __init__(self, stream):
            self.stream = stream

        def launch(self):
            self.stream.launches += 1

    class MemoryPool:
        malloc = None

    def __init__(self):
        self.cuda = self
        self.current = self.Stream()

    def get_current_stream(self):
        return self.current

    def using_allocator(self, malloc):
        return contextlib.nullcontext()


@pytest.fixture
def gpu_path(backend, monkeypatch):
    """A CapturedStep on numpy that takes the GPU's path, and the lines it printed."""
    if backend != "numpy":
        pytest.skip("runs once, under numpy")
    cupy, module = StandInCuPy(), mg_backend.backend_module
    monkeypatch.setattr(mg_backend, "backend_module", lambda name=None: cupy if name == "cupy" else module(name))
    checked = []
    monkeypatch.setattr(blas, "check", lambda: checked.append(1))

    def make(fn, *objects, warmup=2):
        step = CapturedStep(fn, *objects, warmup=warmup)
        step.on_gpu, step.stream = True, cupy.Stream()
        return step
    make.checked = checked
    return make


def test_on_the_gpus_path_warm_ups_multiply_as_the_capture_will_then_replays_launch(gpu_path):
    layer, direct = nn.Dense(2, 3), []

    def fn(x):
        direct.append(blas._direct or host_access.step_pool is not None)
        return layer(x).sum()
    step = gpu_path(fn, layer)
    results = [step(minigrad.tensor(np.ones((4, 2)))) for _ in range(5)]
    assert gpu_path.checked == [1] and direct == [True, True, True]  # 2 warm-ups and the capture
    assert step.graph is not None and step.stream.launches == 3  # the capture's own, then 2 replays
    assert results[2] is results[3] is results[4] and not blas._direct


def test_on_the_gpus_path_a_cublas_that_does_not_fit_makes_the_step_eager_saying_so(gpu_path, monkeypatch, capsys):
    def refuse():
        raise CaptureError("cuBLAS called directly gave [[1.0]] for [[2.0]]")
    monkeypatch.setattr(blas, "check", refuse)
    layer, direct = nn.Dense(2, 3), []

    def fn(x):
        direct.append(blas._direct)
        return layer(x).sum()
    step = gpu_path(fn, layer)
    for _ in range(4):
        step(minigrad.tensor(np.ones((4, 2))))
    assert direct == [False] * 4 and step.graph is None
    assert capsys.readouterr().err.count("cannot be captured (CaptureError: cuBLAS called directly") == 1


def test_same_products_are_cublas_called_directly_on_the_gpus_path_only_and_checked_once(gpu_path, monkeypatch,
                                                                                      capsys):
    step = gpu_path(lambda: None)
    for _ in range(2):
        with step.same_products():
            assert blas._direct
    assert gpu_path.checked == [1] and not blas._direct
    with CapturedStep(lambda: None).same_products():  # on the CPU: products as always
        assert not blas._direct

    def refuse():
        raise CaptureError("cuBLAS called directly gave [[1.0]] for [[2.0]]")
    monkeypatch.setattr(blas, "check", refuse)
    step = gpu_path(lambda: None)
    with step.same_products():
        assert not blas._direct  # the step runs eagerly, with CuPy's own products
    assert step.eager_because and capsys.readouterr().err.count("cannot be captured") == 1


def test_on_the_gpus_path_replays_refuse_to_go_on_after_the_generators_were_made_anew(gpu_path,
                                                                                    splitmix64_everywhere):
    """manual_seed makes new generators; the graph would go on advancing the old ones."""
    def draw():
        return Tensor._wrap(mg_random.random_normal((4,), minigrad.float32))
    step = gpu_path(draw, warmup=1)
    for _ in range(3):  # the warm-up, the capture, a replay
        step()
    assert step.stream.launches == 2
    mg_random.get_rng_state()  # reads the generators, as a checkpoint does: still the same ones
    step()
    minigrad.manual_seed(1)
    with pytest.raises(CaptureError, match="made anew .*manual_seed"):
        step()
    assert step.stream.launches == 3


def test_on_the_gpus_path_a_failed_capture_runs_eagerly_unless_it_changed_the_state(gpu_path, capsys):
    layer, calls = nn.Dense(2, 3), []

    def fails_in_capture(x):
        calls.append(1)
        if host_access.step_pool is not None:
            raise RuntimeError("cudaErrorStreamCaptureUnsupported")
        return layer(x).sum()
    step = gpu_path(fails_in_capture, layer, warmup=1)
    for _ in range(3):
        assert step(minigrad.tensor(np.ones((4, 2)))) is not None
    assert step.graph is None and len(calls) == 4  # warm-up, the failed capture and its eager rerun, 1 more
    assert "cannot be captured (RuntimeError: cudaErrorStreamCaptureUnsupported); it runs eagerly" in capsys.readouterr().err

    def rebinds(x):
        layer.weight.data = layer.weight.data * 0.5
        return layer(x).sum()
    step = gpu_path(rebinds, layer, warmup=1)
    step(minigrad.tensor(np.ones((4, 2))))
    with pytest.raises(CaptureError, match="trying changed its state: .*Dense.weight.data was replaced"):
        step(minigrad.tensor(np.ones((4, 2))))


needs_gpu = pytest.mark.skipif(not mg_backend.cupy_available(),
                               reason=f"no CuPy GPU: {mg_backend._cupy_error}")


@pytest.fixture
def on_cupy(backend):
    if backend == "strict":
        pytest.skip("a GPU test runs once: with the numpy (or cupy) parameter")
    minigrad.set_backend("cupy")
    minigrad.manual_seed(0)


def gpu_runs(n, captured, lr_changes=()):
    """Losses and G's first weight after each of n calls, on CuPy, from seed 3. The eager
    steps multiply as the captured ones do, through cuBLAS called directly: what is compared
    is the replay, not two gemm routes' rounding (test_blas.py compares those)."""
    minigrad.manual_seed(3)
    toy = Toy()
    step = CapturedStep(toy.step, *toy.objects(), warmup=2) if captured else toy.step
    out = []
    with contextlib.nullcontext() if captured else blas.calling_cublas():
        for i, real in enumerate(batches(n)):
            if i in lr_changes:
                toy.g_optimizer.lr = toy.d_optimizer.lr = lr_changes[i]
            losses = step(real)
            out.append(({k: v.item() for k, v in losses.items()}, toy.G[0].weight.numpy().copy()))
    return out, step


@pytest.mark.gpu
@needs_gpu
def test_captured_replays_train_as_the_eager_steps(on_cupy):
    eager, _ = gpu_runs(8, captured=False)
    captured, step = gpu_runs(8, captured=True)
    assert step.graph is not None, step.eager_because
    for (losses_a, weight_a), (losses_b, weight_b) in zip(eager, captured):
        np.testing.assert_allclose(weight_b, weight_a, rtol=1e-5, atol=1e-6)
        for key in losses_a:
            assert losses_b[key] == pytest.approx(losses_a[key], rel=1e-5)


@pytest.mark.gpu
@needs_gpu
def test_replays_draw_new_random_numbers(on_cupy):
    mg_random.generator()  # made before the step

    def draw():
        return Tensor._wrap(mg_random.random_normal((4,), minigrad.float32))
    step = CapturedStep(draw, warmup=1)
    draws = [step().numpy().copy() for _ in range(4)]
    assert step.graph is not None, step.eager_because
    assert len({d.tobytes() for d in draws}) == 4
    minigrad.manual_seed(0)
    eager = [mg_random.random_normal((4,), minigrad.float32).get() for _ in range(4)]
    np.testing.assert_array_equal(np.array(draws), np.array(eager))


@pytest.mark.gpu
@needs_gpu
def test_a_new_learning_rate_reaches_the_replays(on_cupy):
    runs, step = gpu_runs(6, captured=True, lr_changes={4: 0.0})
    assert step.graph is not None, step.eager_because
    weights = [weight for _, weight in runs]
    assert not np.array_equal(weights[3], weights[2])  # replays train
    np.testing.assert_array_equal(weights[5], weights[3])  # at lr 0 they leave G as it was
