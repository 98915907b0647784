"""Every op of minigrad.functional: forward against plain NumPy (float32 vs a float64
reference) and backward against float64 central differences (minigrad.gradcheck).

Inputs stay away from kinks (relu/leaky_relu at 0, clip at its bounds, ties of max) so
that x ± eps never crosses one, and log/sqrt/pow/div get positive inputs.
"""
import ast
import inspect
import pathlib
import re

import numpy as np
import pytest

import minigrad
from minigrad import functional as F

from fd_inputs import Inputs

draw = Inputs(seed=0)
rng = draw.rng
normal, positive, away_from_zero, distinct, away_from_half = (
    draw.normal, draw.positive, draw.away_from_zero, draw.distinct, draw.away_from_half)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def case(name, fn, reference, *inputs):
    return pytest.param(fn, reference, list(inputs), id=name)


ARITHMETIC = [
    case("add", lambda a, b: a + b, np.add, normal(3, 4), normal(3, 4)),
    case("add (3,1,4)+(2,4)", F.add, np.add, normal(3, 1, 4), normal(2, 4)),
    case("add number", lambda a: 2.5 + a, lambda a: 2.5 + a, normal(2, 3)),
    case("sub (2,3)-(3,)", lambda a, b: a - b, np.subtract, normal(2, 3), normal(3)),
    case("sub (1,3)-(2,1)", F.sub, np.subtract, normal(1, 3), normal(2, 1)),
    case("sub from number", lambda a: 1.0 - a, lambda a: 1.0 - a, normal(4)),
    case("mul (3,1,4)*(2,4)", lambda a, b: a * b, np.multiply, normal(3, 1, 4), normal(2, 4)),
    case("mul by 0-d", F.mul, np.multiply, normal(2, 3), normal()),
    case("mul number", lambda a: a * -3.0, lambda a: a * -3.0, normal(5)),
    case("div", lambda a, b: a / b, np.divide, normal(3, 4), positive(4)),
    case("div (2,1,3)/(4,1)", F.div, np.divide, normal(2, 1, 3), positive(4, 1)),
    case("number / x", lambda a: 2.0 / a, lambda a: 2.0 / a, positive(3)),
    case("neg", lambda a: -a, np.negative, normal(2, 3)),
    case("F.neg", F.neg, np.negative, normal(4)),
    case("pow 3", lambda a: a ** 3, lambda a: a ** 3, normal(3, 4)),
    case("pow 0.5", lambda a: F.pow(a, 0.5), np.sqrt, positive(3, 2)),
    case("pow -2", lambda a: a ** -2, lambda a: a ** -2.0, positive(4)),
    case("pow 0", lambda a: a ** 0, lambda a: a ** 0, normal(3)),
]

ELEMENTWISE = [
    case("exp", F.exp, np.exp, normal(3, 4)),
    case("log", F.log, np.log, positive(3, 4)),
    case("sqrt", F.sqrt, np.sqrt, positive(3, 4)),
    case("tanh", F.tanh, np.tanh, normal(3, 4)),
    case("sigmoid", F.sigmoid, sigmoid, 3 * normal(3, 4)),
    case("relu", F.relu, lambda a: np.maximum(a, 0), away_from_zero(3, 4)),
    case("leaky_relu", F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), away_from_zero(3, 4)),
    case("leaky_relu 0.2", lambda a: F.leaky_relu(a, negative_slope=0.2),
         lambda a: np.where(a > 0, a, 0.2 * a), away_from_zero(3, 4)),
    case("softplus", F.softplus, lambda a: np.log1p(np.exp(a)), 3 * normal(3, 4)),
    case("clip", lambda a: F.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), away_from_half(3, 4)),
    case("Tensor methods", lambda a: a.exp() + a.tanh() * a.sigmoid() - a.clip(-0.5, 0.5),
         lambda a: np.exp(a) + np.tanh(a) * sigmoid(a) - np.clip(a, -0.5, 0.5), away_from_half(4)),
    case("Tensor log sqrt relu", lambda a: a.log() + a.sqrt() + a.relu(),
         lambda a: np.log(a) + np.sqrt(a) + a, positive(4)),
]

CONDITION = rng.random((3, 4)) > 0.5
CONDITION_ROW = np.array([True, False, False, True])
WHERE = [
    case("where", lambda a, b: F.where(CONDITION, a, b), lambda a, b: np.where(CONDITION, a, b),
         normal(3, 4), normal(4)),
    case("where broadcast condition", lambda a, b: F.where(CONDITION_ROW, a, b),
         lambda a, b: np.where(CONDITION_ROW, a, b), normal(3, 4), normal(3, 1)),
    case("where number", lambda a: F.where(CONDITION, a, 0.0),
         lambda a: np.where(CONDITION, a, 0.0), normal(3, 4)),
]

MATMUL = [
    case("matmul (3,4)@(4,5)", lambda a, b: a @ b, np.matmul, normal(3, 4), normal(4, 5)),
    case("matmul batched", F.matmul, np.matmul, normal(2, 3, 4), normal(2, 4, 5)),
    case("matmul broadcast batch", F.matmul, np.matmul, normal(2, 1, 3, 4), normal(5, 4, 2)),
    case("matmul 2-D @ batched", F.matmul, np.matmul, normal(3, 4), normal(2, 4, 5)),
    case("matmul 1-D @ 2-D", F.matmul, np.matmul, normal(4), normal(4, 5)),
    case("matmul 2-D @ 1-D", F.matmul, np.matmul, normal(3, 4), normal(4)),
    case("matmul batched @ 1-D", F.matmul, np.matmul, normal(2, 3, 4), normal(4)),
    case("matmul 1-D @ batched", F.matmul, np.matmul, normal(4), normal(2, 4, 5)),
    case("matmul 1-D @ 1-D", lambda a, b: a @ b, np.matmul, normal(4), normal(4)),
]


def logsumexp(x, axis=None, keepdims=False):
    return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))


REDUCTIONS = [
    case(f"{name} axis={axis} keepdims={keepdims}",
         lambda a, op=op, axis=axis, keepdims=keepdims: op(a, axis=axis, keepdims=keepdims),
         lambda a, ref=ref, axis=axis, keepdims=keepdims: ref(a, axis=axis, keepdims=keepdims),
         make(2, 3, 4))
    for name, op, ref, make in [("sum", F.sum, np.sum, normal), ("mean", F.mean, np.mean, normal),
                                ("max", F.max, np.max, distinct),
                                ("logsumexp", F.logsumexp, logsumexp, normal)]
    for axis in [None, 1, (0, 2), (-1, 0)]
    for keepdims in [False, True]
] + [
    case("sum method", lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), normal(3, 4)),
    case("mean method", lambda a: a.mean(), lambda a: a.mean(), normal(3, 4)),
    case("max method", lambda a: a.max(axis=0, keepdims=True),
         lambda a: a.max(axis=0, keepdims=True), distinct(3, 4)),
    case("logsumexp method", lambda a: a.logsumexp(axis=-1), lambda a: logsumexp(a, axis=-1),
         normal(3, 4)),
    case("sum of 0-d", F.sum, np.sum, normal()),
] + [
    case(f"softmax axis={axis}", lambda a, axis=axis: F.softmax(a, axis=axis),
         lambda a, axis=axis: softmax(a, axis), normal(2, 3, 4)) for axis in (-1, 0, 1)
] + [
    case(f"log_softmax axis={axis}", lambda a, axis=axis: F.log_softmax(a, axis=axis),
         lambda a, axis=axis: np.log(softmax(a, axis)), normal(2, 3, 4)) for axis in (-1, 1)
]

INDEX_REPEATED = np.array([0, 2, 0, 0])
INDEX_2D = np.array([[0, 1], [1, 1]])
MASK = rng.random((3, 4)) > 0.4
SHAPE = [
    case("reshape", lambda a: F.reshape(a, (4, 6)), lambda a: a.reshape(4, 6), normal(2, 3, 4)),
    case("reshape(-1)", lambda a: a.reshape(-1), lambda a: a.reshape(-1), normal(2, 3)),
    case("reshape(4, -1)", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), normal(2, 3, 2)),
    case("flatten", F.flatten, lambda a: a.reshape(2, -1), normal(2, 3, 2)),
    case("transpose", F.transpose, np.transpose, normal(2, 3, 4)),
    case("transpose (1,0,2)", lambda a: F.transpose(a, (1, 0, 2)),
         lambda a: a.transpose(1, 0, 2), normal(2, 3, 4)),
    case("transpose (2,0,1)", lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1),
         normal(2, 3, 4)),
    case("transpose (0,-1,-2)", lambda a: a.transpose((0, -1, -2)),
         lambda a: a.transpose(0, -1, -2), normal(2, 3, 4)),
    case(".T", lambda a: a.T, lambda a: a.T, normal(3, 4)),
    case("broadcast_to (3,1)->(2,3,4)", lambda a: F.broadcast_to(a, (2, 3, 4)),
         lambda a: np.broadcast_to(a, (2, 3, 4)), normal(3, 1)),
    case("broadcast_to method", lambda a: a.broadcast_to((3, 4)),
         lambda a: np.broadcast_to(a, (3, 4)), normal(4)),
    case("getitem slices", lambda a: a[1:, ::2], lambda a: a[1:, ::2], normal(3, 4)),
    case("getitem int", lambda a: a[1], lambda a: a[1], normal(3, 4)),
    case("getitem negative int", lambda a: a[-1, 2], lambda a: a[-1, 2], normal(3, 4)),
    case("getitem int, slice, int", lambda a: a[1, :, 2], lambda a: a[1, :, 2], normal(2, 3, 4)),
    case("getitem repeated indices", lambda a: a[INDEX_REPEATED], lambda a: a[INDEX_REPEATED],
         normal(3, 4)),
    case("getitem index list", lambda a: F.getitem(a, [2, 2, 1]), lambda a: a[[2, 2, 1]],
         normal(3, 2)),
    case("getitem 2-D index array", lambda a: a[INDEX_2D], lambda a: a[INDEX_2D], normal(3, 2)),
    case("getitem slice and array", lambda a: a[:, INDEX_REPEATED],
         lambda a: a[:, INDEX_REPEATED], normal(2, 3)),
    case("getitem two arrays", lambda a: a[INDEX_REPEATED, INDEX_REPEATED[::-1]],
         lambda a: a[INDEX_REPEATED, INDEX_REPEATED[::-1]], normal(3, 3)),
    case("getitem boolean mask", lambda a: a[MASK], lambda a: a[MASK], normal(3, 4)),
    case("getitem Ellipsis None", lambda a: a[..., None, 1], lambda a: a[..., None, 1],
         normal(2, 3)),
    case("concatenate axis 0", lambda a, b, c: F.concatenate([a, b, c]),
         lambda a, b, c: np.concatenate([a, b, c]), normal(1, 3), normal(2, 3), normal(3, 3)),
    case("concatenate axis 1", lambda a, b: F.concatenate([a, b], axis=1),
         lambda a, b: np.concatenate([a, b], axis=1), normal(2, 1), normal(2, 3)),
    case("concatenate axis -1", lambda a, b: F.concatenate((a, b), axis=-1),
         lambda a, b: np.concatenate([a, b], axis=-1), normal(2, 2, 1), normal(2, 2, 3)),
]

CASES = ARITHMETIC + ELEMENTWISE + WHERE + MATMUL + REDUCTIONS + SHAPE


@pytest.mark.parametrize("fn, reference, inputs", CASES)
def test_forward_matches_numpy(fn, reference, inputs):
    y = fn(*[minigrad.tensor(x) for x in inputs])
    expected = np.asarray(reference(*inputs))
    assert y.dtype == minigrad.float32
    assert y.shape == expected.shape
    assert type(y.numpy()) is np.ndarray
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn, reference, inputs", CASES)
def test_gradient_matches_finite_differences(fn, reference, inputs):
    assert minigrad.gradcheck(fn, inputs)


@pytest.mark.parametrize("fn, reference, inputs", CASES)
def test_directional_gradcheck_agrees(fn, reference, inputs):
    assert minigrad.gradcheck(fn, inputs, mode="directional")


# ----------------------------------------------------------------------------- details
def host(array):
    return minigrad.backend.to_numpy(array)


def test_max_shares_the_gradient_between_ties():
    x = minigrad.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.5, 0.5, 0.0])


def test_pow_zero_has_zero_gradient_even_at_zero():
    x = minigrad.tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0])


def test_pow_refuses_a_tensor_exponent():
    x = minigrad.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="exponent must be a number"):
        x ** x


def test_number_constants_keep_the_tensor_dtype():
    x = minigrad.tensor([1.0, 2.0])
    for y in (x + 1.5, 2.0 * x, x / np.float64(3), 1.0 - x, x ** 2):
        assert y.dtype == minigrad.float32


def test_numpy_ufuncs_refuse_tensors():
    with pytest.raises(TypeError):
        np.exp(minigrad.tensor([1.0]))


def test_numpy_operand_on_the_left_calls_the_tensor_operator():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    y = np.float64(3.0) * x  # Tensor.__rmul__, not an object array
    assert isinstance(y, minigrad.Tensor) and y.requires_grad and y.dtype == minigrad.float32
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])


@pytest.mark.parametrize("a_shape, b_shape, detail", [
    ((2, 3), (4, 5), "a has 3 columns but b has 4 rows"),
    ((3,), (4, 5), "a has 3 columns but b has 4 rows"),
    ((2, 3), (4,), "a has 3 columns but b has 4 rows"),
    ((2, 3, 4), (5, 4, 2), r"batch axes \(2,\) and \(5,\) do not broadcast"),
    ((), (4, 5), "an operand is a scalar"),
])
def test_matmul_errors_name_both_shapes(a_shape, b_shape, detail):
    a, b = minigrad.tensor(np.ones(a_shape)), minigrad.tensor(np.ones(b_shape))
    shapes = rf"matmul: shapes {re.escape(str(a_shape))} and {re.escape(str(b_shape))}"
    for multiply in (F.matmul, lambda a, b: a @ b):
        with pytest.raises(ValueError, match=shapes + ".*" + detail):
            multiply(a, b)


def test_linear_errors_name_x_and_the_weight():
    x, weight = minigrad.tensor(np.ones((2, 3))), minigrad.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"linear: shapes \(2, 3\) and \(4, 5\): x has 3 "
                                         r"features .* takes 5"):
        F.linear(x, weight)
    with pytest.raises(ValueError, match=r"linear: expected weight of shape \(out, in\), got shape \(5,\)"):
        F.linear(x, minigrad.tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) .* expected \(4,\)"):
        F.linear(x, minigrad.tensor(np.ones((4, 3))), minigrad.tensor(np.ones(3)))


REDUCTIONS_WITH_AXIS = {"sum": F.sum, "mean": F.mean, "max": F.max, "logsumexp": F.logsumexp,
                        "softmax": F.softmax, "log_softmax": F.log_softmax}


@pytest.mark.parametrize("name", list(REDUCTIONS_WITH_AXIS))
@pytest.mark.parametrize("axis", [2, -3, 7, (0, 2)])
def test_reductions_refuse_an_axis_the_tensor_does_not_have(name, axis):
    x = minigrad.tensor(normal(2, 3))
    with pytest.raises(ValueError, match=rf"{name}: axis .* out of range for a tensor of 2 "
                                         r"dimensions \(shape \(2, 3\)\)") as error:
        REDUCTIONS_WITH_AXIS[name](x, axis=axis)
    assert isinstance(error.value, IndexError)  # as NumPy's AxisError: catchable as either


@pytest.mark.parametrize("name", list(REDUCTIONS_WITH_AXIS))
def test_reductions_refuse_an_axis_named_twice(name):
    x = minigrad.tensor(normal(2, 3))
    with pytest.raises(ValueError, match=rf"{name}: axis \(1, -1\) names an axis twice"):
        REDUCTIONS_WITH_AXIS[name](x, axis=(1, -1))


def test_reductions_take_every_axis_in_range():
    x = normal(2, 3, 4)
    for axis in (-3, -1, 0, 2, (0, -1)):
        np.testing.assert_allclose(F.sum(minigrad.tensor(x, dtype=minigrad.float64), axis=axis).numpy(),
                                   x.sum(axis=axis))


# ----------------------------------------------------------------------------- stability
LOGITS = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
STABLE = [
    pytest.param(F.sigmoid, [[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]], id="sigmoid"),
    pytest.param(F.softplus, [[1000.0, np.log(2), 0.0], [0.0, 0.0, 0.0]], id="softplus"),
    pytest.param(lambda x: F.logsumexp(x, axis=1), [1000.0, -1000.0 + np.log(3)], id="logsumexp"),
    pytest.param(F.log_softmax, [[0.0, -1000.0, -2000.0], [-np.log(3)] * 3], id="log_softmax"),
    pytest.param(F.softmax, [[1.0, 0.0, 0.0], [1 / 3] * 3], id="softmax"),
]


@pytest.mark.parametrize("fn, expected", STABLE)
def test_stable_at_logits_of_plus_minus_1000(fn, expected):
    x = minigrad.tensor(LOGITS, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = fn(x)
        y.backward(np.ones(y.shape, dtype=np.float32))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-30)
    assert np.all(np.isfinite(host(x.grad)))


@pytest.mark.parametrize("fn, expected", STABLE)
def test_gradient_at_logits_of_plus_minus_1000(fn, expected):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert minigrad.gradcheck(fn, [LOGITS])


def test_softplus_and_sigmoid_gradients_at_the_extremes():
    x = minigrad.tensor([1000.0, -1000.0], requires_grad=True)
    F.softplus(x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 0.0])
    x.zero_grad()
    F.sigmoid(x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0])


# ----------------------------------------------------------------------------- functional's layout
def test_functional_is_a_flat_table_with_every_import_at_the_top():
    """Checks, padding and route choices live beside their ops in minigrad/ops/."""
    source = pathlib.Path(F.__file__).read_text()
    body = ast.parse(source).body[1:]  # after the docstring
    first_def = next(i for i, node in enumerate(body) if isinstance(node, ast.FunctionDef))
    assert all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body[:first_def])
    for node in body[first_def:]:
        assert isinstance(node, ast.FunctionDef), ast.dump(node)[:80]
        assert len(node.body) == 1 and isinstance(node.body[0], ast.Return), node.name
    assert "builtins" not in source and "noqa" not in source


@pytest.mark.parametrize("name, signature", [
    ("matmul", "(a, b)"), ("pow", "(x, exponent)"), ("where", "(condition, a, b)"),
    ("getitem", "(x, index)"), ("linear", "(x, weight, bias=None)"),
    ("conv2d", "(x, weight, bias=None, stride=1, padding=0)"),
    ("conv_transpose2d", "(x, weight, bias=None, stride=1, padding=0, output_padding=0)"),
    ("upsample_nearest2d", "(x, scale=2)"),
    ("batch_norm", "(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-05)"),
    ("layer_norm", "(x, gamma, beta, eps=1e-05)"),
    ("dropout", "(x, p, training=True)"),
    ("binary_cross_entropy", "(probs, targets, reduction='mean')"),
    ("binary_cross_entropy_with_logits", "(logits, targets, reduction='mean')"),
    ("cross_entropy", "(logits, labels, reduction='mean')"),
])
def test_functions_defined_beside_their_ops_keep_their_signature_and_docstring(name, signature):
    function = getattr(F, name)
    assert str(inspect.signature(function)) == signature
    assert function.__doc__ and function.__module__.startswith("minigrad.ops.")
