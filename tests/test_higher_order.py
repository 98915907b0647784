"""Higher-order gradients: minigrad.grad, backward(create_graph=True) and gradgradcheck.

Every op's backward_graph is checked by gradgradcheck (float64 central differences of its
gradient, with random upstream gradients), and the checker is shown to fail on an op whose
graph-backward cuts the graph. Inputs stay away from kinks as in tests/test_ops.py.
"""
import numpy as np
import pytest

import minigrad
from minigrad import Function, GradcheckError
from minigrad import functional as F
from minigrad import nn
from minigrad.backend import backend_of, to_numpy
from minigrad.ops.elementwise import Tanh

from fd_inputs import Inputs

draw = Inputs(seed=0)
rng = draw.rng
normal, positive, away_from_zero, distinct, away_from_half = (
    draw.normal, draw.positive, draw.away_from_zero, draw.distinct, draw.away_from_half)


def leaf(values):
    return minigrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=True,
                           dtype=minigrad.float64)


def host(t):
    return to_numpy(t.data if isinstance(t, minigrad.Tensor) else t)


def case(name, fn, *inputs):
    return pytest.param(fn, list(inputs), id=name)


# ----------------------------------------------------------------------------- every op
CONDITION = rng.random((3, 4)) > 0.5
ARITHMETIC = [
    case("add (3,1,4)+(2,4)", F.add, normal(3, 1, 4), normal(2, 4)),
    case("add number", lambda a: 2.5 + a, normal(2, 3)),
    case("sub (2,3)-(3,)", lambda a, b: a - b, normal(2, 3), normal(3)),
    case("sub from number", lambda a: 1.0 - a, normal(4)),
    case("mul (3,1,4)*(2,4)", lambda a, b: a * b, normal(3, 1, 4), normal(2, 4)),
    case("mul self", lambda a: a * a, normal(2, 3)),
    case("div (2,1,3)/(4,1)", F.div, normal(2, 1, 3), positive(4, 1)),
    case("number / x", lambda a: 2.0 / a, positive(3)),
    case("neg", lambda a: -a, normal(2, 3)),
    case("pow 3", lambda a: a ** 3, normal(3, 2)),
    case("pow 0.5", lambda a: F.pow(a, 0.5), positive(3, 2)),
    case("pow -2", lambda a: a ** -2, positive(4)),
    case("pow 0", lambda a: a ** 0, normal(3)),
    case("matmul (3,4)@(4,2)", lambda a, b: a @ b, normal(3, 4), normal(4, 2)),
    case("matmul broadcast batch", F.matmul, normal(2, 1, 2, 3), normal(2, 3, 2)),
    case("matmul 1-D @ 2-D", F.matmul, normal(3), normal(3, 2)),
    case("matmul 1-D @ 1-D", F.matmul, normal(3), normal(3)),
]
ELEMENTWISE = [
    case("exp", F.exp, normal(2, 3)),
    case("log", F.log, positive(2, 3)),
    case("sqrt", F.sqrt, positive(2, 3)),
    case("tanh", F.tanh, normal(2, 3)),
    case("sigmoid", F.sigmoid, 2 * normal(2, 3)),
    case("relu", lambda a: F.relu(a) * a, away_from_zero(2, 3)),
    case("leaky_relu 0.2", lambda a: F.leaky_relu(a, 0.2) * a, away_from_zero(2, 3)),
    case("leaky_relu 1.5", lambda a: F.leaky_relu(a, 1.5) ** 2, away_from_zero(2, 3)),
    case("softplus", F.softplus, 2 * normal(2, 3)),
    case("clip", lambda a: F.clip(a, -0.5, 0.5) ** 2, away_from_half(2, 3)),
    case("where", lambda a, b: F.where(CONDITION, a * a, b * b * b), normal(3, 4), normal(4)),
    case("where number", lambda a: F.where(CONDITION, a ** 3, 0.0), normal(3, 4)),
]


INDEX_REPEATED = np.array([0, 2, 0])
MASK = rng.random((3, 2)) > 0.4
REDUCTIONS = [
    case(f"{name} axis={axis} keepdims={keepdims}",
         lambda a, op=op, axis=axis, keepdims=keepdims: op(a * a, axis=axis, keepdims=keepdims),
         make(2, 3, 2))
    for name, op, make in [("sum", F.sum, normal), ("mean", F.mean, normal),
                           ("max", F.max, distinct), ("logsumexp", F.logsumexp, normal)]
    for axis, keepdims in [(None, False), (1, True), ((0, 2), False)]
] + [
    case(f"softmax axis={axis}", lambda a, axis=axis: F.softmax(a, axis=axis), normal(2, 3, 2))
    for axis in (-1, 1)
] + [
    case("log_softmax axis=-1", lambda a: F.log_softmax(a, axis=-1), normal(2, 3)),
    case("log_softmax axis=0", lambda a: F.log_softmax(a, axis=0), normal(3, 2)),
]
SHAPE = [
    case("reshape", lambda a: F.reshape(a, (3, 2)) ** 2, normal(2, 3)),
    case("transpose (2,0,1)", lambda a: a.transpose(2, 0, 1) ** 3, normal(2, 3, 2)),
    case(".T @", lambda a: a.T @ a, normal(3, 2)),
    case("broadcast_to", lambda a: F.broadcast_to(a, (2, 3, 2)) ** 2, normal(3, 1)),
    case("getitem slices", lambda a: a[1:, ::2] ** 2, normal(3, 4)),
    case("getitem repeated indices", lambda a: a[INDEX_REPEATED] ** 3, normal(3, 2)),
    case("getitem boolean mask", lambda a: a[MASK] ** 3, normal(3, 2)),
    case("getitem int and Ellipsis", lambda a: a[..., None, 1] * a[1], normal(2, 2)),
    case("concatenate axis 0", lambda a, b: F.concatenate([a * b, b]) ** 2, normal(1, 3), normal(2, 3)),
    case("concatenate axis -1", lambda a, b: F.concatenate((a, b * b), axis=-1) ** 2,
         normal(2, 1), normal(2, 3)),
]
CASES = ARITHMETIC + ELEMENTWISE + REDUCTIONS + SHAPE


@pytest.mark.parametrize("fn, inputs", CASES)
def test_second_derivatives_match_finite_differences(fn, inputs, backend):
    assert minigrad.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("fn, inputs", CASES[:4] + ELEMENTWISE[:4] + REDUCTIONS[-4:] + SHAPE[-2:])
def test_directional_gradgradcheck_agrees(fn, inputs, backend):
    assert minigrad.gradgradcheck(fn, inputs, mode="directional")


# ----------------------------------------------------------------------------- the checker
class CutTanh(Tanh):
    """tanh whose graph-backward detaches y: the first derivative 1 - y² is right, but
    y no longer depends on x in the gradient's graph, so the second derivative
    -2y(1 - y²) comes out as 0."""

    def backward_graph(self, gy, x, y):
        return gy * (1 - y.detach() * y.detach())


def test_gradgradcheck_catches_a_graph_backward_that_cuts_the_graph(backend):
    x = normal(2, 3)
    assert minigrad.gradcheck(CutTanh.apply, [x])  # first derivative: right
    with pytest.raises(GradcheckError, match=r"gradgradcheck: gradcheck failed for input 0 "
                                             r"of shape \(2, 3\): 6 of 6 elements off"):
        minigrad.gradgradcheck(CutTanh.apply, [x])
    assert minigrad.gradgradcheck(CutTanh.apply, [x], raise_exception=False) is False
    assert not minigrad.gradgradcheck(CutTanh.apply, [x], mode="directional",
                                      raise_exception=False)


class ScaledGraphTanh(Tanh):
    """tanh whose graph-backward computes 1% more than its backward: consistent with its
    own derivatives, so only the comparison with backward() can see it."""

    def backward_graph(self, gy, x, y):
        return gy * (1 - y * y) * 1.01


def test_gradgradcheck_catches_a_graph_backward_that_disagrees_with_backward(backend):
    with pytest.raises(GradcheckError, match=r"gradgradcheck: the create_graph gradient of checked "
                                             r"tensor 0 \(of shape \(2, 3\)\) differs from backward\(\)'s"):
        minigrad.gradgradcheck(ScaledGraphTanh.apply, [normal(2, 3)])
    assert not minigrad.gradgradcheck(ScaledGraphTanh.apply, [normal(2, 3)], raise_exception=False)


class DetachedGyTanh(Tanh):
    """tanh whose graph-backward detaches gy: right in x, wrong in the upstream gradient."""

    def backward_graph(self, gy, x, y):
        return gy.detach() * (1 - y * y)


def test_gradgradcheck_checks_the_upstream_gradient_too(backend):
    with pytest.raises(GradcheckError, match=r"for input 1 .*input 1 is its upstream gradient"):
        minigrad.gradgradcheck(DetachedGyTanh.apply, [normal(2, 3)])


def test_parameters_are_checked_too(backend):
    weight = leaf(normal(3, 2))
    before = weight.numpy().copy()
    assert minigrad.gradgradcheck(lambda x: F.tanh(x @ weight), [normal(2, 3)], params=[weight])
    np.testing.assert_array_equal(weight.numpy(), before)  # restored exactly


class SwishWithoutGraph(Function):
    """A custom op with a first derivative only."""

    def forward(self, x):
        self.x, self.s = x, 1 / (1 + minigrad.get_array_module(x).exp(-x))
        return x * self.s

    def backward(self, gy):
        return gy * (self.s + self.x * self.s * (1 - self.s))


def test_create_graph_through_an_op_without_backward_graph_names_it(backend):
    x = leaf([0.5, -1.0])
    y = (SwishWithoutGraph.apply(x) * 2.0).sum()
    with pytest.raises(NotImplementedError, match="SwishWithoutGraph has no second derivative: "
                                                  "create_graph=True needs SwishWithoutGraph.backward_graph"):
        minigrad.grad(y, x, create_graph=True)
    with pytest.raises(NotImplementedError, match="SwishWithoutGraph has no second derivative"):
        y.backward(create_graph=True)
    (g,) = minigrad.grad(SwishWithoutGraph.apply(x).sum(), x)  # first order: fine
    assert g.shape == (2,)


# ----------------------------------------------------------------------------- third order
def test_third_derivative_of_tanh_matches_the_closed_form(backend):
    x = leaf([-1.3, -0.2, 0.0, 0.7, 2.0])
    (g1,) = minigrad.grad(F.tanh(x).sum(), x, create_graph=True)
    (g2,) = minigrad.grad(g1.sum(), x, create_graph=True)
    (g3,) = minigrad.grad(g2.sum(), x)
    t = np.tanh(host(x))
    np.testing.assert_allclose(host(g1), 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(host(g2), -2 * t * (1 - t ** 2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(host(g3), -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-12)


def test_derivatives_of_x_cubed_to_the_fourth_order(backend):
    x = leaf([-2.0, 0.5, 3.0])
    g, expected = (x ** 3).sum(), [3 * host(x) ** 2, 6 * host(x), 6 + 0 * host(x), 0 * host(x)]
    for order, want in enumerate(expected, 1):
        (g,) = minigrad.grad(g.sum(), x, create_graph=True)
        np.testing.assert_allclose(host(g), want, err_msg=f"order {order}")


def test_backward_with_create_graph_gives_differentiable_grads(backend):
    x = leaf([1.0, -2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert isinstance(x.grad, minigrad.Tensor) and x.grad.requires_grad
    np.testing.assert_allclose(host(x.grad), 3 * host(x) ** 2)
    first = x.grad
    x.zero_grad()
    (first * first).sum().backward()  # d/dx Σ(3x²)² = 36x³, a raw array again
    assert not isinstance(x.grad, minigrad.Tensor)
    np.testing.assert_allclose(host(x.grad), 36 * host(x) ** 3)


def test_first_order_grads_stay_raw_arrays(backend):
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    assert type(x.grad) is type(x.data)
    (x * x).sum().backward(retain_graph=False, create_graph=False)
    np.testing.assert_allclose(host(x.grad), [4.0, 8.0])


def test_backward_keeps_its_positional_and_keyword_arguments(backend):
    x = leaf([1.0, 2.0])
    y = x * 3.0
    y.backward(np.array([1.0, 2.0]), True)  # positional gradient and retain_graph
    y.backward(grad=np.array([1.0, 0.0]))  # the former keyword
    np.testing.assert_allclose(host(x.grad), [6.0, 6.0])
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward(gradient=np.ones(2))


# ----------------------------------------------------------------------------- grad()
def test_grad_returns_a_tuple_and_leaves_dot_grad_alone(backend):
    x, w, unused = leaf([1.0, 2.0]), leaf([3.0, -1.0]), leaf([[5.0]])
    w.grad = w.data * 0 + 7.0
    grads = minigrad.grad((x * w).sum(), [x, w, unused])
    assert isinstance(grads, tuple) and len(grads) == 3
    np.testing.assert_allclose(host(grads[0]), host(w))
    np.testing.assert_allclose(host(grads[1]), host(x))
    assert grads[2].shape == (1, 1) and grads[2].dtype == minigrad.float64
    np.testing.assert_array_equal(host(grads[2]), [[0.0]])
    assert x.grad is None and unused.grad is None
    np.testing.assert_array_equal(host(w.grad), [7.0, 7.0])
    assert not any(g.requires_grad for g in grads)


def test_grad_of_several_outputs_with_their_upstream_gradients(backend):
    x = leaf([1.0, 2.0, 3.0])
    y1, y2 = x * x, F.exp(x)
    g1, g2 = np.array([1.0, -1.0, 0.5]), np.array([2.0, 0.0, 1.0])
    (gx,) = minigrad.grad([y1, y2], [x], grad_outputs=[minigrad.tensor(g1, dtype=minigrad.float64), g2])
    np.testing.assert_allclose(host(gx), g1 * 2 * host(x) + g2 * np.exp(host(x)))
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        minigrad.grad([y1, y2], x, grad_outputs=[g1])
    with pytest.raises(RuntimeError, match="needs an upstream gradient"):
        minigrad.grad(y1, x)


def test_upstream_gradients_take_the_output_dtype_and_backend_unless_kept_for_a_graph(backend):
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)  # float32
    other = minigrad.tensor([1.0, 3.0], dtype=minigrad.float64, backend="numpy")
    for g in ([1.0, 3.0], np.array([1.0, 3.0]), other):
        (gx,) = minigrad.grad(x * 2.0, x, grad_outputs=[g])
        assert gx.dtype == minigrad.float32 and backend_of(gx.data) == backend
        np.testing.assert_array_equal(host(gx), [2.0, 6.0])
    with pytest.raises(TypeError, match="create_graph=True an upstream gradient Tensor must"):
        minigrad.grad(x * 2.0, x, grad_outputs=other, create_graph=True)
    v = minigrad.tensor([1.0, 3.0], requires_grad=True)  # x's dtype and backend: kept, graph and all
    (gx,) = minigrad.grad(x * x, x, grad_outputs=v, create_graph=True)
    (gv,) = minigrad.grad(gx.sum(), v)
    np.testing.assert_array_equal(host(gv), 2 * host(x))


def test_grad_with_respect_to_an_intermediate_tensor(backend):
    x = leaf([0.5, -1.5])
    h = x * 3.0
    gh, gx = minigrad.grad((h * h).sum(), [h, x])
    np.testing.assert_allclose(host(gh), 2 * host(h))
    np.testing.assert_allclose(host(gx), 2 * host(h) * 3.0)


def test_grad_of_a_constant_output_is_zeros(backend):
    x = leaf([1.0, 2.0])
    (g,) = minigrad.grad(minigrad.tensor([3.0]) * 2.0, x, grad_outputs=np.ones(1))
    np.testing.assert_array_equal(host(g), [0.0, 0.0])


def test_grad_frees_the_graph_unless_asked_as_in_pytorch(backend):
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    minigrad.grad(y, x, retain_graph=True)
    minigrad.grad(y, x)  # retain_graph defaults to create_graph: freed now
    with pytest.raises(RuntimeError, match="already freed"):
        minigrad.grad(y, x)
    z = (x * x * x).sum()
    (g,) = minigrad.grad(z, x, create_graph=True)  # keeps the graph: g is built on it
    minigrad.grad(z, x)
    with pytest.raises(ValueError, match="create_graph=True builds the new graph on the old one"):
        minigrad.grad(z * 1.0, x, create_graph=True, retain_graph=False)


def test_grad_runs_only_the_ops_on_the_way_to_the_inputs(backend):
    # The gradient w.r.t. x never needs the weight's: an op without a graph-backward off
    # the path does not stop create_graph, and the weight's gradient is never computed.
    x, w = leaf([0.3, -0.4]), leaf([1.5, 2.0])
    branch = SwishWithoutGraph.apply(w)
    y = (F.tanh(x * w) + branch).sum()
    (gx,) = minigrad.grad(y, x, create_graph=True)
    np.testing.assert_allclose(host(gx), host(w) * (1 - np.tanh(host(x) * host(w)) ** 2))
    assert gx.requires_grad


def test_create_graph_records_a_graph_even_inside_no_grad(backend):
    x = leaf([0.2, 0.4])
    y = F.tanh(x).sum()
    with minigrad.no_grad():
        (g,) = minigrad.grad(y, x, create_graph=True)
        assert not minigrad.is_grad_enabled()
    assert g.requires_grad
    with minigrad.enable_grad():
        assert minigrad.is_grad_enabled()


# ----------------------------------------------------------------------------- layers and losses
def on_backend(values):
    """Running statistics (raw arrays) on the active backend."""
    return minigrad.backend.backend_module().asarray(np.asarray(values, dtype=np.float64))


LABELS = np.array([2, 0, 1])
SOFT_TARGETS = rng.dirichlet(np.ones(3), size=3)
BINARY_TARGETS = rng.random((3, 2))
REAL_FEATURES = normal(4, 3)
LAYER_OPS = [
    case("linear", F.linear, normal(3, 4), normal(2, 4), normal(2)),
    case("linear no bias, 3-D x", lambda x, w: F.tanh(F.linear(x, w)), normal(2, 2, 3), normal(2, 3)),
    case("conv2d stride 2 padding 1", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         normal(1, 2, 4, 4), normal(3, 2, 3, 3), normal(3)),
    case("conv2d stride 2, a row left unread", lambda x, w: F.conv2d(x, w, stride=2) ** 2,
         normal(1, 1, 6, 5), normal(2, 1, 3, 3)),
    case("conv2d stride 1 via conv_transpose2d", lambda x, w: F.tanh(F.conv2d(x, w, padding=1)),
         normal(1, 3, 3, 3), normal(1, 3, 3, 3)),
    case("conv2d same", lambda x, w: F.conv2d(x, w, padding="same") ** 2, normal(1, 1, 4, 4),
         normal(2, 1, 2, 2)),
    case("conv_transpose2d stride 2 padding 1", lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1),
         normal(1, 3, 2, 2), normal(3, 2, 4, 4), normal(2)),
    case("conv_transpose2d output_padding", lambda x, w: F.conv_transpose2d(x, w, None, 2, 0, 1) ** 2,
         normal(1, 2, 2, 2), normal(2, 1, 3, 3)),
    case("conv_transpose2d stride 1 via conv2d", lambda x, w: F.tanh(F.conv_transpose2d(x, w, padding=1)),
         normal(1, 1, 3, 3), normal(1, 3, 3, 3)),
    case("upsample_nearest2d", lambda x: F.upsample_nearest2d(x, 2) ** 3, normal(1, 2, 2, 2)),
    case("dropout", lambda x: F.dropout(x, 0.4) ** 3, normal(4, 3)),
    case("gaussian_noise", lambda x: F.gaussian_noise(x, 0.5) ** 3, normal(4, 3)),
    case("weight_norm", lambda v, g: F.weight_norm(v, g) ** 2, normal(3, 4), normal(3)),
    case("weight_norm in linear", lambda x, v, g: F.tanh(F.linear(x, F.weight_norm(v, g))),
         normal(2, 4), normal(3, 4), normal(3)),
    # the real side is detached (a target), so only the fake side is an input here
    case("feature_matching_loss", lambda fake: F.feature_matching_loss(
        minigrad.tensor(REAL_FEATURES, dtype=minigrad.float64), F.tanh(fake)), normal(5, 3)),
    case("binary_cross_entropy_with_logits mean",
         lambda x: F.binary_cross_entropy_with_logits(x, BINARY_TARGETS), 2 * normal(3, 2)),
    case("binary_cross_entropy_with_logits none",
         lambda x: F.binary_cross_entropy_with_logits(x, BINARY_TARGETS, reduction="none"), normal(3, 2)),
    case("binary_cross_entropy sum", lambda p: F.binary_cross_entropy(p, BINARY_TARGETS, "sum"),
         rng.uniform(0.1, 0.9, (3, 2))),
    case("cross_entropy labels", lambda x: F.cross_entropy(x, LABELS), normal(3, 3)),
    case("cross_entropy soft targets sum", lambda x: F.cross_entropy(x, SOFT_TARGETS, "sum"), normal(3, 3)),
    case("cross_entropy none", lambda x: F.cross_entropy(x, LABELS, "none"), normal(3, 3)),
    case("layer_norm 2-D", lambda x, g, b: F.layer_norm(x, g, b), normal(3, 4), normal(4), normal(4)),
    case("layer_norm 4-D", lambda x, g, b: F.layer_norm(x, g, b), normal(2, 2, 2, 2),
         normal(2, 2, 2), normal(2, 2, 2)),
    case("layer_norm no affine", lambda x: F.layer_norm(x, None, None), normal(2, 5)),
    case("batch_norm training", lambda x, g, b: F.batch_norm(x, g, b, None, None, True),
         normal(4, 3), normal(3), normal(3)),
    case("batch_norm training 4-D no affine", lambda x: F.batch_norm(x, None, None, None, None, True),
         normal(2, 2, 2, 2)),
    case("batch_norm eval", lambda x, g, b: F.tanh(F.batch_norm(x, g, b, on_backend([0.5, -1.0]),
                                                               on_backend([2.0, 0.5]), False)),
         normal(3, 2), normal(2), normal(2)),
]


@pytest.mark.parametrize("fn, inputs", LAYER_OPS)
def test_layer_second_derivatives_match_finite_differences(fn, inputs, backend):
    assert minigrad.gradgradcheck(fn, inputs)


def test_conv_weight_gradient_op_differentiates_to_any_order(backend):
    # Conv2DWeightGrad, the op that Conv2D's and ConvTranspose2D's graph-backwards use for
    # their weight gradients: its own graph-backward is the third derivative of a conv.
    from minigrad.ops.conv import Conv2DWeightGrad

    def weight_gradient(x, g):
        return Conv2DWeightGrad.apply(x, g, pads=(1, 0, 1, 1), stride=(2, 1), kernel=(3, 2))

    x, g = normal(2, 2, 4, 3), normal(2, 3, 2, 4)
    assert minigrad.gradcheck(weight_gradient, [x, g])
    assert minigrad.gradgradcheck(weight_gradient, [x, g])


def float64_layer(layer):
    """The layer in float64 with parameters away from their initial values."""
    layer = layer.to(dtype=minigrad.float64)
    for i, p in enumerate(layer.parameters()):
        p.data = p.data + minigrad.get_array_module(p.data).asarray(
            np.random.default_rng(10 + i).standard_normal(p.shape) * 0.3)
    return layer


LAYERS = {  # name: (layer factory, input shape)
    "dense": (lambda: nn.Dense(3, 2), (4, 3)),
    "weight-normalised dense": (lambda: nn.WeightNormDense(3, 2), (4, 3)),
    "conv2d": (lambda: nn.Conv2D(2, 3, 3, stride=2, padding=1), (2, 2, 4, 4)),
    "conv2d stride 1": (lambda: nn.Conv2D(3, 1, 3, padding=1), (1, 3, 3, 3)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2D(2, 2, 4, stride=2, padding=1), (1, 2, 2, 2)),
    "layernorm": (lambda: nn.LayerNorm((2, 2, 2)), (3, 2, 2, 2)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_second_derivatives_with_respect_to_weights(name, backend):
    make, shape = LAYERS[name]
    layer = float64_layer(make())
    assert minigrad.gradgradcheck(lambda x: F.tanh(layer(x)), [normal(*shape)], params=layer.parameters())


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient_of_the_input_gradient_norm_with_respect_to_weights(name, backend):
    # d/dW ‖dL/dx‖²: exactly what a gradient penalty differentiates.
    make, shape = LAYERS[name]
    layer = float64_layer(make())

    def squared_input_gradient_norm(x):
        with minigrad.enable_grad():  # gradcheck's finite differences run under no_grad
            (gx,) = minigrad.grad(F.tanh(layer(x)).sum(), x, create_graph=True)
        return (gx * gx).sum()

    assert minigrad.gradcheck(squared_input_gradient_norm, [normal(*shape)], params=layer.parameters())


def test_wgan_gp_penalty_reaches_the_critics_weights(backend):
    # x̂ = αx + (1 − α)x̃ → D(x̂) → g = ∂D/∂x̂ (create_graph) → mean (‖g‖₂ − 1)² → backward
    # to D's weights, checked against finite differences, then an optimizer step.
    critic = float64_layer(nn.Sequential(
        nn.Conv2D(1, 2, 3, stride=2, padding=1),  # (N, 2, 3, 3)
        nn.LayerNorm((2, 3, 3)),
        nn.LeakyReLU(0.2),
        nn.Flatten(),                             # (N, 18)
        nn.Dense(18, 1),                          # (N, 1)
    ))
    real, fake, alpha = normal(2, 1, 5, 5), normal(2, 1, 5, 5), rng.random((2, 1, 1, 1))
    mixed = alpha * real + (1 - alpha) * fake

    def penalty(x_hat):
        with minigrad.enable_grad():
            (g,) = minigrad.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norms = ((g * g).sum(axis=(1, 2, 3)) + 1e-12) ** 0.5
        return ((norms - 1.0) ** 2).mean()

    assert minigrad.gradcheck(penalty, [mixed], params=critic.parameters())

    x_hat = minigrad.tensor(mixed, requires_grad=True, dtype=minigrad.float64)
    critic.zero_grad()
    loss = critic(x_hat).mean() + 10.0 * penalty(x_hat)
    loss.backward()
    grads = [p.grad for p in critic.parameters()]
    assert all(type(g) is type(x_hat.data) for g in grads)  # raw arrays, as the optimizer wants
    before = [p.numpy().copy() for p in critic.parameters()]
    minigrad.optim.Adam(critic.parameters(), lr=1e-2).step()
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, critic.parameters()))
