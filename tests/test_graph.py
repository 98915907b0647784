"""The dynamic graph and backward(): reuse, accumulation, freeing, no_grad, detach,
deep chains, error messages, and custom ops written by subclassing minigrad.Function."""
import sys

import numpy as np
import pytest

import minigrad
from minigrad import Function
from minigrad import functional as F


def host(array):
    return minigrad.backend.to_numpy(array)


def leaf(values, dtype=None):
    return minigrad.tensor(np.asarray(values), requires_grad=True, dtype=dtype)


# ----------------------------------------------------------------------------- accumulation
def test_non_leaf_used_twice_gets_both_gradients():
    # micrograd#64: h feeds y twice; both paths must reach x.
    x = leaf([1.0, -2.0, 3.0])
    h = x * 2.0
    y = (h * h + h).sum()  # dy/dh = 2h + 1, dh/dx = 2
    y.backward()
    np.testing.assert_allclose(host(x.grad), (2 * 2 * x.numpy() + 1) * 2)
    assert h.grad is None  # only leaves keep gradients


def test_leaf_used_twice_in_one_op():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(host(x.grad), [2.0, 4.0])


def test_diamond_graph():
    x = leaf([0.5, 2.0])
    a, b = x * 2.0, x * 3.0
    (a * b).sum().backward()  # 6x², derivative 12x
    np.testing.assert_allclose(host(x.grad), 12 * x.numpy())


def test_leaf_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    first = x.grad
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(host(x.grad), [6.0, 6.0])
    np.testing.assert_allclose(host(first), [3.0, 3.0])  # never modified in place


def test_backward_into_given_inputs_only():
    # A GAN's generator step: the loss passes through D's weight w, but only G's weight v
    # steps; backward(inputs=[v]) gives v the full gradient and leaves w's .grad alone,
    # without running the work that leads only to w.
    calls = []

    class Scale(Function):
        def forward(self, x, w):
            self.x, self.w = x, w
            return x * w

        def backward(self, gy):
            calls.append(self.needs_input_grad)
            return (gy * self.w if self.needs_input_grad[0] else None,
                    (gy * self.x).sum(keepdims=True).reshape(self.w.shape) if self.needs_input_grad[1] else None)

    v, w = leaf([1.5, -2.0]), leaf([3.0])
    loss = Scale.apply(v * v, w).sum()
    loss.backward(inputs=[v, v])  # listed twice: added once
    np.testing.assert_allclose(host(v.grad), 2 * v.numpy() * 3.0)
    assert w.grad is None
    assert calls == [(True, False)]  # D's weight gradient was never computed

    v.grad = None
    loss = Scale.apply(v * v, w).sum()
    loss.backward()
    assert calls[-1] == (True, True) and w.grad is not None


def test_backward_into_inputs_accumulates_like_backward():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward(inputs=[x])
    (x * x).sum().backward(inputs=x)
    np.testing.assert_allclose(host(x.grad), 3.0 + 2 * x.numpy())


def test_backward_twice_after_zeroing_gives_identical_gradients_retain_graph():
    x, w = leaf([[1.0, -1.0]]), leaf([[0.5], [2.0]])
    y = F.tanh(x @ w).sum()
    y.backward(retain_graph=True)
    first = (host(x.grad).copy(), host(w.grad).copy())
    x.zero_grad(), w.zero_grad()
    y.backward()
    np.testing.assert_array_equal(host(x.grad), first[0])
    np.testing.assert_array_equal(host(w.grad), first[1])


def test_backward_twice_after_zeroing_gives_identical_gradients_rebuilt_graph():
    # micrograd#102
    x, w = leaf([[1.0, -1.0]]), leaf([[0.5], [2.0]])
    grads = []
    for _ in range(2):
        x.zero_grad(), w.zero_grad()
        F.sigmoid(x @ w).sum().backward()
        grads.append((host(x.grad).copy(), host(w.grad).copy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


def test_gradient_dtype_follows_the_leaf():
    x = leaf([1.0, 2.0])  # float32
    c = minigrad.tensor([3.0, 4.0], dtype=minigrad.float64)
    y = (x * c).sum()
    assert y.dtype == minigrad.float64
    y.backward()
    assert x.grad.dtype == minigrad.float32


# ----------------------------------------------------------------------------- deep graphs
def test_chain_of_10000_ops_has_no_recursion_error():
    assert sys.getrecursionlimit() < 10_000  # so a recursive walk would fail here
    x = leaf([1.0], dtype=minigrad.float64)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), [1.0001 ** 10_000], rtol=1e-10)


# ----------------------------------------------------------------------------- freeing
def test_backward_frees_the_graph():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    y = h.sum()
    y.backward()
    assert h._ctx is None and y._ctx is None


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_it_and_gradients_add_up():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert y._ctx is not None
    y.backward()
    np.testing.assert_allclose(host(x.grad), 4 * x.numpy())


# ----------------------------------------------------------------------------- no_grad, detach
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with minigrad.no_grad():
        assert not minigrad.is_grad_enabled()
        y = F.exp(x * 2.0).sum()
    assert minigrad.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with minigrad.no_grad():
            1 / 0
    assert minigrad.is_grad_enabled()


def test_detach_stops_gradients():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d._ctx is None
    np.testing.assert_array_equal(d.numpy(), x.numpy())
    (d * x * 3.0 + x).sum().backward()  # d is a constant: d(3dx + x)/dx = 3d + 1
    np.testing.assert_allclose(host(x.grad), 3 * x.numpy() + 1)


def test_constants_do_not_require_grad():
    x = minigrad.tensor([1.0, 2.0])
    assert not (x * 2.0).requires_grad
    assert (x * leaf([1.0, 1.0])).requires_grad


# ----------------------------------------------------------------------------- errors
def test_backward_on_non_scalar_needs_a_gradient():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(2,\) needs an upstream gradient"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_raises():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a tensor of shape \(2,\)"):
        y.backward(np.ones(3, dtype=np.float32))


def test_backward_with_a_gradient_weights_the_outputs():
    x = leaf([1.0, 2.0])
    (x * 2.0).backward(np.array([10.0, -1.0], dtype=np.float32))
    np.testing.assert_allclose(host(x.grad), [20.0, -2.0])


# ----------------------------------------------------------------------------- custom ops
class Cube(Function):
    """y = x³;   gx = gy * 3x²"""

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        return gy * 3 * self.x ** 2


class ScaledProduct(Function):
    """y = scale * a * b;   ga = gy * scale * b,  gb = gy * scale * a"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return self.scale * a * b

    def backward(self, gy):
        ga = gy * self.scale * self.b if self.needs_input_grad[0] else None
        gb = gy * self.scale * self.a if self.needs_input_grad[1] else None
        return ga, gb


def test_custom_op_forward_backward_and_gradcheck():
    x = leaf([1.0, -2.0, 0.5])
    y = Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), 3 * x.numpy() ** 2)
    assert minigrad.gradcheck(Cube.apply, [np.random.default_rng(0).standard_normal((3, 4))])


def test_custom_op_with_params_and_a_constant_input():
    a, b = leaf([1.0, 2.0]), minigrad.tensor([3.0, 4.0])
    ScaledProduct.apply(a, b, scale=0.5).sum().backward()
    np.testing.assert_allclose(host(a.grad), [1.5, 2.0])
    assert b.grad is None
    rng = np.random.default_rng(1)
    assert minigrad.gradcheck(lambda p, q: ScaledProduct.apply(p, q, scale=-2.0),
                              [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


class WrongShapeGradient(Function):
    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return gy.sum()


def test_custom_op_returning_a_wrong_shaped_gradient_gets_a_clear_error():
    y = WrongShapeGradient.apply(leaf([1.0, 2.0, 3.0])).sum()
    with pytest.raises(RuntimeError, match=r"WrongShapeGradient.backward returned a gradient of "
                                           r"shape \(\) for an input of shape \(3,\)"):
        y.backward()


def test_function_needs_a_tensor_input():
    with pytest.raises(TypeError, match="needs at least one Tensor"):
        Cube.apply(2.0)
