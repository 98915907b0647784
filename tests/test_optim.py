"""Optimizers: three steps against the textbook formulas computed here, gradients left
untouched, and state_dict round trips that continue training exactly."""
import json

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import nn, optim

P0 = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]])
GRADS = [np.array([[0.1, -0.2, 0.3], [1.0, 0.0, -2.0]]),
         np.array([[-0.3, 0.1, 0.3], [0.5, 2.0, -1.0]]),
         np.array([[0.2, 0.2, -0.1], [-1.0, 0.5, 0.0]])]


def run_steps(optimizer_class, **settings):
    """The parameter after each of three steps with the GRADS, as host arrays."""
    p = minigrad.tensor(P0, requires_grad=True, dtype=minigrad.float64)
    opt = optimizer_class([p], **settings)
    history = []
    for g in GRADS:
        p.grad = minigrad.tensor(g, dtype=minigrad.float64).data
        given, before = p.grad, p.numpy().copy()
        opt.step()
        assert p.grad is given  # the gradient array is neither replaced nor written to
        np.testing.assert_array_equal(minigrad.backend.to_numpy(p.grad), g)
        assert not np.array_equal(p.numpy(), before)
        history.append(p.numpy().copy())
    return history


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_the_textbook_for_three_steps(weight_decay):
    lr, (beta1, beta2), eps = 0.01, (0.5, 0.999), 1e-8
    got = run_steps(optim.Adam, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    p, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, start=1):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-12, atol=1e-14)


def test_adam_first_step_moves_each_weight_by_about_lr():
    """With bias correction, step 1 is lr·g/|g|: the property that makes Adam's lr a step size."""
    got = run_steps(optim.Adam, lr=0.01)[0]
    moved = np.abs(got - P0)[GRADS[0] != 0]
    np.testing.assert_allclose(moved, 0.01, rtol=1e-5)


def adam_after_three_steps(data, grads, fortran=False):
    p = minigrad.tensor(data, requires_grad=True)
    xp = minigrad.backend.get_array_module(p.data)
    if fortran:
        p.data = xp.asfortranarray(p.data)
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.999))
    for g in grads:
        p.grad = xp.asarray(g)
        opt.step()
    return [minigrad.backend.to_numpy(a) for a in (p.data, opt.state[0]["exp_avg"], opt.state[0]["exp_avg_sq"])]


def test_adam_in_cache_sized_pieces_is_adam_on_the_whole_arrays(monkeypatch):
    """A parameter of 1.5 pieces and a bit (a short last piece) gets the update it gets in
    one piece, bit for bit; so do a parameter that is not C-contiguous (updated whole) and a
    gradient that is a transposed view."""
    rng = np.random.default_rng(0)
    shape = (3, optim.CACHE_PIECE // 2 + 5)
    data = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(2)]
    grads.append(np.ascontiguousarray(grads[0].T).T)  # same values, Fortran order
    in_pieces = adam_after_three_steps(data, grads)
    monkeypatch.setattr(optim, "CACHE_PIECE", data.size)
    whole = adam_after_three_steps(data, grads)
    fortran = adam_after_three_steps(data, grads, fortran=True)
    for a, b, c in zip(in_pieces, whole, fortran):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(in_pieces[0], data)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_the_textbook_for_three_steps(momentum):
    lr = 0.1
    got = run_steps(optim.SGD, lr=lr, momentum=momentum)
    p, buffer = P0.copy(), None
    for t, g in enumerate(GRADS):
        buffer = g.copy() if buffer is None else momentum * buffer + g
        p = p - lr * (buffer if momentum else g)
        np.testing.assert_allclose(got[t], p, rtol=1e-12, atol=1e-15)


def test_parameters_without_gradient_are_skipped():
    a = minigrad.tensor(P0, requires_grad=True)
    b = minigrad.tensor(P0, requires_grad=True)
    opt = optim.Adam([a, b])
    a.grad = minigrad.tensor(GRADS[0]).data
    opt.step()
    np.testing.assert_array_equal(b.numpy(), P0.astype(np.float32))
    assert "state.1.step" not in opt.state_dict() and opt.state_dict()["state.0.step"] == 1


def test_optimizer_zero_grad_and_bad_parameters():
    model = nn.Dense(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(minigrad.tensor(np.ones((1, 2)))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError, match="parameter 0 is not a Tensor with requires_grad=True"):
        optim.Adam([minigrad.tensor([1.0])])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])


# ----------------------------------------------------------------------------- state_dict
def make_model():
    return nn.Sequential(nn.Dense(3, 4), nn.BatchNorm(4), nn.LeakyReLU(0.2), nn.Dense(4, 1))


def train(model, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = minigrad.tensor(rng.standard_normal((8, 3)))
        t = (rng.random((8, 1)) > 0.5).astype(np.float32)
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), t).backward()
        opt.step()


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.Adam(params, lr=0.01, betas=(0.5, 0.999), weight_decay=0.01),
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9)], ids=["adam", "sgd"])
def test_training_continues_exactly_from_a_saved_state(make_optimizer):
    minigrad.manual_seed(0)
    model = make_model()
    opt = make_optimizer(model.parameters())
    train(model, opt, steps=3, seed=1)
    model_state, opt_state = model.state_dict(), opt.state_dict()
    train(model, opt, steps=2, seed=2)  # the run that was never interrupted

    numbers = {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)}
    opt_state = {**json.loads(json.dumps(numbers)),  # through JSON, as a checkpoint would
                 **{k: v for k, v in opt_state.items() if isinstance(v, np.ndarray)}}
    assert opt_state["state.0.step"] == 3

    minigrad.manual_seed(99)
    resumed = make_model()
    resumed_opt = make_optimizer(resumed.parameters())
    resumed.load_state_dict(model_state)
    resumed_opt.load_state_dict(opt_state)
    train(resumed, resumed_opt, steps=2, seed=2)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_optimizer_state_loads_onto_the_parameters_backend_and_dtype():
    source = nn.Dense(3, 2).to("numpy", minigrad.float64)
    opt = optim.Adam(source.parameters())
    source(minigrad.tensor(np.ones((2, 3)), backend="numpy", dtype=minigrad.float64)).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert type(state["state.0.exp_avg"]) is np.ndarray and state["state.0.exp_avg"].dtype == np.float64
    assert state["betas"] == [0.9, 0.999] and state["lr"] == 0.001

    target = nn.Dense(3, 2)  # the test's backend, float32
    target_opt = optim.Adam(target.parameters(), lr=0.5).load_state_dict(state)
    assert target_opt.lr == 0.001 and target_opt.betas == (0.9, 0.999)
    for i in (0, 1):
        for name in ("exp_avg", "exp_avg_sq"):
            array = target_opt.state[i][name]
            assert minigrad.backend.backend_of(array) == minigrad.get_backend()
            assert array.dtype == np.float32
            np.testing.assert_allclose(minigrad.backend.to_numpy(array), state[f"state.{i}.{name}"],
                                       rtol=1e-6)


def test_optimizer_load_refuses_unknown_keys_and_wrong_shapes():
    opt = optim.Adam(nn.Dense(3, 2).parameters())
    state = {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}
    with pytest.raises(ValueError, match=r"unexpected key 'state.2.exp_avg' \(this optimizer has 2 parameters\)"):
        opt.load_state_dict({**state, "state.2.exp_avg": np.zeros(2)})
    with pytest.raises(ValueError, match=r"state.1.exp_avg has shape \(3,\), parameter 1 has shape \(2,\)"):
        opt.load_state_dict({**state, "state.1.exp_avg": np.zeros(3)})
    with pytest.raises(ValueError, match=r"missing keys \['eps'\]"):
        opt.load_state_dict({"lr": 0.001, "betas": [0.9, 0.999], "weight_decay": 0.0})


def test_a_refused_state_dict_leaves_a_capturable_optimizers_counts_as_they_were():
    """Its step counts are entries of one device vector, which a loaded count writes in
    place: only once every key has passed."""
    layer = nn.Dense(3, 2)
    opt = optim.Adam(layer.parameters(), capturable=True)
    for p in layer.parameters():
        p.grad = minigrad.backend.backend_module(minigrad.get_backend()).ones(p.shape, dtype=p.dtype)
    opt.step()
    state = {**opt.state_dict(), "state.0.step": 7, "state.1.exp_avg": np.zeros(3)}
    with pytest.raises(ValueError, match=r"state.1.exp_avg has shape \(3,\)"):
        opt.load_state_dict(state)
    assert opt.state_dict()["state.0.step"] == 1
    opt.load_state_dict({**state, "state.1.exp_avg": np.zeros(2)})
    assert opt.state_dict()["state.0.step"] == 7 and opt.state_dict()["state.1.step"] == 1


# ----------------------------------------------------------------------------- capturable
def twin_runs(make_optimizer, steps=20, dtype=minigrad.float32):
    """The parameters (host arrays) after `steps` steps of an eager optimizer and of its
    capturable twin, from the same start on the same gradients, and the two optimizers."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((5, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(steps)]
    runs = []
    for capturable in (False, True):
        params = [minigrad.tensor(p, requires_grad=True, dtype=dtype) for p in start]
        opt = make_optimizer(params, capturable)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = minigrad.tensor(g, dtype=dtype).data
            opt.step()
        runs.append(([p.numpy() for p in params], opt))
    return runs


ADAM = lambda params, capturable: optim.Adam(params, lr=0.01, betas=(0.5, 0.999),  # noqa: E731
                                             weight_decay=0.01, capturable=capturable)


@pytest.mark.parametrize("make_optimizer", [
    ADAM,
    lambda params, capturable: optim.SGD(params, lr=0.1, capturable=capturable),
    lambda params, capturable: optim.SGD(params, lr=0.1, momentum=0.9, capturable=capturable)],
    ids=["adam", "sgd", "sgd-momentum"])
def test_a_capturable_optimizer_steps_as_the_eager_one(backend, make_optimizer):
    """Step counts, lr and the bias corrections on the device give the eager updates, to
    float32 rounding, over 20 steps; the state_dicts have one format (steps as ints)."""
    (eager, eager_opt), (capturable, capturable_opt) = twin_runs(make_optimizer)
    for a, b in zip(eager, capturable):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    eager_state, capturable_state = eager_opt.state_dict(), capturable_opt.state_dict()
    assert eager_state.keys() == capturable_state.keys()
    for key, value in eager_state.items():
        assert type(capturable_state[key]) is type(value), key
        np.testing.assert_allclose(capturable_state[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
    assert capturable_state["state.0.step"] == 20 and capturable_state["lr"] == eager_state["lr"]


def test_capturable_adam_keeps_its_counters_and_lr_in_place_on_the_device(backend):
    """What a captured graph reads must stay the same arrays: the step counts advance in place,
    `optimizer.lr = x` writes the lr array in place, and a loaded state_dict continues as the
    eager optimizer loaded with it does."""
    p = minigrad.tensor(P0, requires_grad=True)
    opt = optim.Adam([p], lr=0.01, capturable=True)
    lr_array = opt._lr
    assert minigrad.backend.backend_of(lr_array) == backend and lr_array.shape == ()
    p.grad = minigrad.tensor(GRADS[0]).data
    opt.step()
    step_array = opt.state[0]["step"]
    assert minigrad.backend.backend_of(step_array) == backend and step_array.dtype == np.int64
    p.grad = minigrad.tensor(GRADS[1]).data
    opt.step()
    opt.lr = 0.5
    assert opt._lr is lr_array and opt.state[0]["step"] is step_array
    assert opt.lr == 0.5 and isinstance(opt.lr, float) and opt.state_dict()["state.0.step"] == 2

    state = json.loads(json.dumps({k: v for k, v in opt.state_dict().items() if not isinstance(v, np.ndarray)}))
    state.update((k, v) for k, v in opt.state_dict().items() if isinstance(v, np.ndarray))
    after = []
    for capturable in (False, True):  # a capturable checkpoint, loaded by both kinds
        q = minigrad.tensor(p.numpy(), requires_grad=True)
        other = optim.Adam([q], capturable=capturable).load_state_dict(state)
        q.grad = minigrad.tensor(GRADS[2]).data
        other.step()
        assert other.lr == 0.5 and other.state_dict()["state.0.step"] == 3
        after.append(q.numpy())
    np.testing.assert_allclose(after[1], after[0], rtol=1e-6, atol=1e-7)

