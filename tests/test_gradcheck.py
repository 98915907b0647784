"""The gradient checker must fail on wrong gradients, pass on right ones, and say where."""
import re

import numpy as np
import pytest

import minigrad
from minigrad import GradcheckError
from minigrad import functional as F
from minigrad.backend import get_array_module, to_numpy
from minigrad.random import random_normal
from minigrad.ops.elementwise import Exp
from minigrad.ops.reduction import Softmax


class ZeroBackwardSoftmax(Softmax):
    """A softmax whose backward forgets the gradient. The sum of its outputs is 1 whatever
    x is, so a checker with an all-ones upstream gradient would pass it."""

    def backward(self, gy):
        return get_array_module(gy).zeros_like(self.y)


class SlightlyWrongExp(Exp):
    """exp with a gradient 1% too large: more than rtol=1e-3 allows."""

    def backward(self, gy):
        return gy * self.y * 1.01


def broken_softmax(x):
    return ZeroBackwardSoftmax.apply(x, axis=-1)


X = np.random.default_rng(0).standard_normal((2, 3))


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_zero_backward_softmax_fails(mode):
    with pytest.raises(GradcheckError):
        minigrad.gradcheck(broken_softmax, [X], mode=mode)
    assert minigrad.gradcheck(broken_softmax, [X], mode=mode, raise_exception=False) is False


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_correct_softmax_passes(mode):
    assert minigrad.gradcheck(lambda x: F.softmax(x, axis=-1), [X], mode=mode) is True


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_gradient_one_percent_off_fails(mode):
    assert minigrad.gradcheck(F.exp, [X], mode=mode)
    assert not minigrad.gradcheck(SlightlyWrongExp.apply, [X], mode=mode, raise_exception=False)


def test_summing_the_outputs_would_miss_the_broken_softmax():
    # Why the upstream gradient is random: sum(softmax(x)) == 1 has a zero gradient,
    # which is exactly what the broken backward returns.
    assert minigrad.gradcheck(lambda x: broken_softmax(x).sum(), [X])


def test_failure_report_names_input_worst_index_and_values():
    with pytest.raises(GradcheckError) as failure:
        minigrad.gradcheck(lambda c, x: c * broken_softmax(x), [2.0, X])
    message = str(failure.value)
    found = re.search(r"gradcheck failed for input 1 of shape \(2, 3\): (\d+) of 6 elements off; "
                      r"worst at index \((\d), (\d)\): analytic (\S+), numeric (\S+), "
                      r"abs error \S+, rel error \S+ \(atol=1e-05, rtol=0.001\)", message)
    assert found, message
    i, j = int(found[2]), int(found[3])
    assert float(found[4]) == 0.0

    # The numeric value is the true gradient with the checker's upstream gradient v (seed 0).
    v = np.random.default_rng(0).standard_normal(X.shape)
    x = minigrad.tensor(X, requires_grad=True, dtype=minigrad.float64)
    (2.0 * F.softmax(x, axis=-1)).backward(v)
    true_grad = to_numpy(x.grad)
    np.testing.assert_allclose(float(found[5]), true_grad[i, j], rtol=1e-6)
    assert (i, j) == np.unravel_index(np.argmax(np.abs(true_grad)), X.shape)
    assert int(found[1]) == np.sum(np.abs(true_grad) > 1e-5 + 1e-3 * np.abs(true_grad))


def test_directional_failure_report():
    with pytest.raises(GradcheckError, match=r"directional\) failed for input 0: analytic vᵀJu = 0, "
                                             r"numeric = \S+, abs error"):
        minigrad.gradcheck(broken_softmax, [X], mode="directional")


# ----------------------------------------------------------------------------- params
def test_params_are_checked_in_place():
    rng = np.random.default_rng(2)
    weight = minigrad.tensor(rng.standard_normal((3, 4)), requires_grad=True, dtype=minigrad.float64)
    before = weight.numpy().copy()
    for mode in ("full", "directional"):
        assert minigrad.gradcheck(lambda x: F.tanh(x @ weight), [X], params=[weight], mode=mode)
        np.testing.assert_array_equal(weight.numpy(), before)  # restored exactly


def test_a_wrong_parameter_gradient_is_named():
    weight = minigrad.tensor(np.ones((2, 3)), requires_grad=True, dtype=minigrad.float64)
    x = minigrad.tensor(X, dtype=minigrad.float64)  # a constant: only the parameter is checked
    with pytest.raises(GradcheckError, match=r"for parameter 0 of shape \(2, 3\)"):
        minigrad.gradcheck(lambda x: broken_softmax(x * weight), [x], params=[weight])


def test_params_must_be_float64():
    weight = minigrad.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match="parameter 0 is float32"):
        minigrad.gradcheck(lambda x: x @ weight, [X], params=[weight])


# ----------------------------------------------------------------------------- inputs
def test_the_same_input_twice_gives_independent_leaves():
    x = minigrad.tensor(X, requires_grad=True, dtype=minigrad.float64)
    assert minigrad.gradcheck(lambda a, b: a * b, [x, x])
    assert minigrad.gradcheck(lambda a, b: a * b, [X, X])


def test_caller_arrays_are_left_unchanged():
    x = X.copy()
    minigrad.gradcheck(F.tanh, [x])
    np.testing.assert_array_equal(x, X)


def test_integer_inputs_and_constants_are_passed_through():
    index = np.array([2, 0, 2])
    constant = minigrad.tensor(np.ones(3))  # requires_grad=False: not checked
    assert minigrad.gradcheck(lambda x, i, c: x[:, i] * c, [X, index, constant])


def test_random_ops_see_the_same_numbers_on_every_call():
    def noisy(x):
        return x * minigrad.Tensor._wrap(random_normal(x.shape, minigrad.float64))
    assert minigrad.gradcheck(noisy, [X])


def test_fn_must_compute_in_float64():
    with pytest.raises(TypeError, match="must compute in float64"):
        minigrad.gradcheck(lambda x: x.to(dtype=minigrad.float32), [X])


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be"):
        minigrad.gradcheck(F.exp, [X], mode="fast")
