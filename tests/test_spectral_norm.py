"""SpectralNorm: σ is the weight's largest singular value, the gradients (first and second)
through W/σ match finite differences, u and v are buffers that training moves and evaluation
keeps, and only the layers it knows are taken."""
import numpy as np
import pytest

import minigrad
from minigrad import nn

LAYERS = {  # name: (layer factory, input shape)
    "dense": (lambda: nn.Dense(6, 4), (5, 6)),
    "conv2d": (lambda: nn.Conv2D(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)),
}


def make(name):
    factory, shape = LAYERS[name]
    layer = nn.SpectralNorm(factory()).to(dtype=minigrad.float64)
    x = minigrad.tensor(np.random.default_rng(1).standard_normal(shape), dtype=minigrad.float64)
    return layer, x


def largest_singular_value(layer):
    weight = layer.layer.weight.numpy()
    return np.linalg.svd(weight.reshape(weight.shape[0], -1), compute_uv=False)[0]


@pytest.mark.parametrize("name", list(LAYERS))
def test_power_iteration_finds_the_largest_singular_value(name):
    layer, x = make(name)
    for _ in range(100):
        y = layer(x)
    assert layer.sigma().item() == pytest.approx(largest_singular_value(layer), rel=1e-6)
    weight = layer.layer.weight.numpy() / layer.sigma().item()
    assert np.linalg.svd(weight.reshape(weight.shape[0], -1), compute_uv=False)[0] == pytest.approx(1, rel=1e-6)
    unnormalised = layer.layer(x).numpy()   # the layer itself, for y = (W/σ)x + b
    bias = layer.layer.bias.numpy().reshape(-1, *[1] * (x.ndim - 2))
    np.testing.assert_allclose(y.numpy(), (unnormalised - bias) / layer.sigma().item() + bias, rtol=1e-6)


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradients_through_w_over_sigma_match_finite_differences(name):
    layer, x = make(name)
    layer(x)          # a power-iteration step; then u and v stay fixed while the checks run
    layer.eval()
    assert minigrad.gradcheck(lambda x: layer(x), [x], params=layer.parameters())
    assert minigrad.gradgradcheck(lambda x: layer(x), [x], params=layer.parameters())


def test_training_moves_u_and_v_and_evaluation_keeps_them():
    layer, x = make("dense")
    host = minigrad.backend.to_numpy   # u and v live on the layer's device
    u, v = host(layer.u).copy(), host(layer.v).copy()   # u and v move in place
    with layer.evaluating():
        layer(x)
    np.testing.assert_array_equal(host(layer.u), u)
    np.testing.assert_array_equal(host(layer.v), v)
    layer(x)
    layer(x)          # the first step's v is the initial one: u had not moved yet
    assert not np.allclose(host(layer.u), u) and not np.allclose(host(layer.v), v)
    assert [name for name, _ in layer.named_buffers()] == ["u", "v"]
    assert [name for name, _ in layer.named_parameters()] == ["layer.weight", "layer.bias"]


def test_a_restored_state_gives_the_same_outputs():
    layer, x = make("conv2d")
    for _ in range(3):
        layer(x)
    other, _ = make("conv2d")
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("layer", [nn.ConvTranspose2D(2, 3, 4), nn.ReLU(), nn.WeightNormDense(3, 2)])
def test_only_dense_and_conv2d_are_taken(layer):
    with pytest.raises(TypeError, match="SpectralNorm wraps a Dense or a Conv2D layer"):
        nn.SpectralNorm(layer)
