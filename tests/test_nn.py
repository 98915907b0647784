"""Layers and the Module system: float64 gradient checks of every layer (input and every
parameter, training and eval mode), BatchNorm and Dropout behaviour, initializers,
state_dict, repr, and the errors a wrongly wired model gets."""
import ast
import math
import pathlib

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import nn

HAS_CONV = all(hasattr(F, name) for name in ("conv2d", "conv_transpose2d", "upsample_nearest2d"))
needs_conv = pytest.mark.skipif(not HAS_CONV, reason="minigrad/ops/conv.py functions not in yet")


def random(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def with_running_stats(layer, channels):
    """A BatchNorm whose running statistics are not the initial 0 and 1."""
    rng = np.random.default_rng(7)
    xp = minigrad.get_array_module(layer.running_mean)
    layer.running_mean = xp.asarray(rng.standard_normal(channels), dtype=layer.running_mean.dtype)
    layer.running_var = xp.asarray(rng.uniform(0.5, 2.0, channels), dtype=layer.running_var.dtype)
    return layer


def not_trivial(layer):
    """Parameters away from their initial ones and zeros (γ = 1, β = 0 hide mistakes)."""
    for i, p in enumerate(layer.parameters()):
        p.data = p.data + minigrad.get_array_module(p.data).asarray(random(p.shape, 10 + i, 0.3))
    return layer


LAYERS = {  # name: (layer factory, input shape)
    "dense": (lambda: nn.Dense(3, 4), (5, 3)),
    "dense_no_bias": (lambda: nn.Dense(3, 4, bias=False), (5, 3)),
    "weight_norm_dense": (lambda: nn.WeightNormDense(3, 4), (5, 3)),
    "weight_norm_dense_fixed_scale": (lambda: nn.WeightNormDense(3, 4, train_scale=False), (5, 3)),
    "weight_norm_dense_no_bias": (lambda: nn.WeightNormDense(3, 4, bias=False), (5, 3)),
    "relu": (nn.ReLU, (4, 3)),
    "softplus": (nn.Softplus, (4, 3)),
    "gaussian_noise": (lambda: nn.GaussianNoise(0.5), (6, 5)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (4, 3)),
    "tanh": (nn.Tanh, (4, 3)),
    "sigmoid": (nn.Sigmoid, (4, 3)),
    "softmax": (nn.Softmax, (4, 3)),
    "dropout": (lambda: nn.Dropout(0.4), (6, 5)),
    "flatten": (nn.Flatten, (2, 3, 2, 2)),
    "reshape": (lambda: nn.Reshape((3, 2, 2)), (2, 12)),
    "batchnorm_2d_input": (lambda: with_running_stats(nn.BatchNorm(3), 3), (6, 3)),
    "batchnorm_4d_input": (lambda: with_running_stats(nn.BatchNorm(3), 3), (4, 3, 2, 3)),
    "batchnorm_no_affine": (lambda: with_running_stats(nn.BatchNorm(3, affine=False), 3), (4, 3, 2, 2)),
    "batchnorm_fixed_scale": (lambda: with_running_stats(nn.BatchNorm(3, train_scale=False), 3), (6, 3)),
    "layernorm_2d_input": (lambda: nn.LayerNorm(3), (4, 3)),
    "layernorm_4d_input": (lambda: nn.LayerNorm((3, 2, 2)), (2, 3, 2, 2)),
    "layernorm_no_affine": (lambda: nn.LayerNorm((2, 3), affine=False), (3, 2, 3)),
    "sequential": (lambda: nn.Sequential(nn.Dense(4, 6), nn.BatchNorm(6), nn.LeakyReLU(0.2),
                                         nn.Dropout(0.3), nn.Dense(6, 2)), (5, 4)),
}
CONV_LAYERS = {
    "conv2d": (lambda: nn.Conv2D(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)),
    "conv2d_same": (lambda: nn.Conv2D(2, 3, 3, padding="same", bias=False), (2, 2, 4, 4)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2D(3, 2, 4, stride=2, padding=1), (2, 3, 3, 3)),
    "conv_transpose2d_output_padding": (
        lambda: nn.ConvTranspose2D(2, 2, 3, stride=2, padding=1, output_padding=1), (1, 2, 3, 3)),
    "upsampling2d": (lambda: nn.UpSampling2D(2), (2, 2, 3, 3)),
    "dcgan_block": (lambda: nn.Sequential(nn.ConvTranspose2D(3, 4, 4, 2, 1), nn.BatchNorm(4),
                                          nn.ReLU(), nn.Conv2D(4, 2, 3, padding=1), nn.Tanh()),
                    (2, 3, 2, 2)),
}


def check_layer_gradients(make_layer, x_shape, training):
    layer = not_trivial(make_layer().to(dtype=minigrad.float64))
    layer.train(training)
    params = layer.parameters()
    assert all(p.dtype == np.float64 for p in params)
    assert minigrad.gradcheck(lambda x: layer(x), [random(x_shape)], params=params)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients(name, training):
    check_layer_gradients(*LAYERS[name], training)


@needs_conv
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list(CONV_LAYERS))
def test_conv_layer_gradients(name, training):
    check_layer_gradients(*CONV_LAYERS[name], training)


def test_gradcheck_catches_a_batchnorm_backward_without_the_mean_terms(monkeypatch):
    """The compact formula's Σgy and x̂·Σ(gy·x̂) terms matter: drop them and the check fails."""
    from minigrad.ops import normalization

    def naive_backward(self, gy):  # treats μ and σ as constants: wrong in training
        per_channel = (1, -1) + (1,) * (gy.ndim - 2)
        return (gy * (self.gamma * self.inv_std).reshape(per_channel),
                normalization.channel_dot(gy, self.x_hat), normalization.channel_sum(gy))

    monkeypatch.setattr(normalization.BatchNorm, "backward", naive_backward)
    with pytest.raises(minigrad.GradcheckError, match="input 0"):
        check_layer_gradients(lambda: nn.BatchNorm(3), (4, 3), training=True)


# ----------------------------------------------------------------------------- Dense
def test_dense_matches_numpy_and_pytorch_layout():
    layer = nn.Dense(3, 2)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    x = random((4, 3)).astype(np.float32)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(minigrad.tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_dense_rejects_an_image_and_says_add_flatten():
    layer = nn.Dense(784, 10)
    with pytest.raises(ValueError, match=r"Dense\(in_features=784.*\(N, 784\).*\(2, 1, 28, 28\).*add Flatten\(\)"):
        layer(minigrad.tensor(np.zeros((2, 1, 28, 28))))


def test_dense_rejects_the_wrong_feature_count():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 5\), got \(2, 4\)"):
        nn.Dense(5, 1)(minigrad.tensor(np.zeros((2, 4))))


# ----------------------------------------------------------------------------- WeightNormDense
def test_weight_norm_dense_is_a_dense_of_weight_g_times_the_unit_rows_of_weight_v():
    layer = not_trivial(nn.WeightNormDense(3, 2))
    v, g, b = layer.weight_v.numpy(), layer.weight_g.numpy(), layer.bias.numpy()
    w = g[:, None] * v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), np.abs(g), rtol=1e-6)
    x = random((4, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(minigrad.tensor(x)).numpy(), x @ w.T + b, rtol=1e-5, atol=1e-5)


def test_weight_norm_dense_starts_as_the_dense_of_its_initial_weight():
    layer = nn.WeightNormDense(5, 3)
    np.testing.assert_allclose(layer.weight().numpy(), layer.weight_v.numpy(), rtol=1e-6)


def test_weight_norm_dense_with_a_fixed_scale_keeps_g_out_of_the_parameters():
    layer = nn.WeightNormDense(3, 2, train_scale=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight_v", "bias"]
    assert [name for name, _ in layer.named_buffers()] == ["weight_g"]
    assert sorted(layer.state_dict()) == ["bias", "weight_g", "weight_v"]


@pytest.mark.parametrize("train_scale", [True, False])
def test_init_from_batch_gives_unit_std_zero_mean_pre_activations(train_scale):
    layer = nn.WeightNormDense(20, 8, train_scale=train_scale)
    x = minigrad.tensor(random((64, 20), seed=3, scale=4.0) + 2.0)
    returned = layer.init_from_batch(x).numpy()
    y = layer(x).numpy()
    np.testing.assert_array_equal(returned, y)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, rtol=1e-4)
    other = layer(minigrad.tensor(random((64, 20), seed=4, scale=4.0) + 2.0)).numpy()
    assert np.abs(other.std(axis=0) - 1).max() > 1e-3  # the batch's statistics, not any batch's


def test_init_from_batch_needs_a_bias():
    with pytest.raises(ValueError, match="sets the bias"):
        nn.WeightNormDense(3, 2, bias=False).init_from_batch(minigrad.tensor(random((4, 3))))


def test_weight_norm_gradient_of_v_is_orthogonal_to_v():
    """gv = (g/‖v‖)(gw − (gw·v̂)v̂): a step on v turns each row and leaves its length to g."""
    v = minigrad.tensor(random((3, 5)), requires_grad=True, dtype=minigrad.float64)
    g = minigrad.tensor(random((3,), seed=1), requires_grad=True, dtype=minigrad.float64)
    F.weight_norm(v, g).backward(random((3, 5), seed=2))
    np.testing.assert_allclose(minigrad.backend.to_numpy((v.grad * v.data).sum(axis=1)), 0, atol=1e-12)


# ----------------------------------------------------------------------------- GaussianNoise
def test_gaussian_noise_is_the_identity_in_eval_mode_and_at_sigma_zero():
    x = minigrad.tensor(random((5, 4)))
    assert nn.GaussianNoise(0.5).eval()(x) is x
    assert nn.GaussianNoise(0.0)(x) is x


def test_gaussian_noise_adds_zero_mean_noise_of_std_sigma_in_training():
    x = random((200, 500)).astype(np.float32)
    y = nn.GaussianNoise(0.3)(minigrad.tensor(x)).numpy()
    noise = y - x
    assert y.dtype == np.float32
    assert abs(noise.mean()) < 3e-3 and abs(noise.std() - 0.3) < 3e-3


def test_gaussian_noise_follows_the_seed_and_passes_gradients_unchanged():
    x = minigrad.tensor(random((3, 4)), requires_grad=True)
    minigrad.manual_seed(5)
    a = nn.GaussianNoise(0.5)(x)
    minigrad.manual_seed(5)
    np.testing.assert_array_equal(nn.GaussianNoise(0.5)(x).numpy(), a.numpy())
    a.backward(np.full((3, 4), 2.0, np.float32))
    np.testing.assert_array_equal(minigrad.backend.to_numpy(x.grad), np.full((3, 4), 2.0))


def test_gaussian_noise_refuses_a_negative_sigma():
    with pytest.raises(ValueError, match="sigma"):
        nn.GaussianNoise(-0.1)


# ----------------------------------------------------------------------------- BatchNorm
def batchnorm_reference(x, gamma, beta, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + eps)
    return y * gamma.reshape(per_channel) + beta.reshape(per_channel), mean, x.var(axis=axes, ddof=1)


@pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3, 2)])
def test_batchnorm_training_uses_batch_stats_and_updates_running_stats(shape):
    layer = not_trivial(nn.BatchNorm(5, momentum=0.3))
    x = random(shape, scale=2.0) + 1.5
    y = layer(minigrad.tensor(x))
    expected, mean, unbiased_var = batchnorm_reference(x, layer.gamma.numpy().astype(np.float64),
                                                       layer.beta.numpy().astype(np.float64), 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(minigrad.backend.to_numpy(layer.running_mean), 0.3 * mean, rtol=1e-5)
    np.testing.assert_allclose(minigrad.backend.to_numpy(layer.running_var),
                               0.7 * 1.0 + 0.3 * unbiased_var, rtol=1e-5)


def test_batchnorm_eval_uses_running_stats_and_leaves_them_alone():
    layer = not_trivial(with_running_stats(nn.BatchNorm(3), 3)).eval()
    mean, var = (minigrad.backend.to_numpy(a).copy() for a in (layer.running_mean, layer.running_var))
    x = random((4, 3, 2, 2))
    y = layer(minigrad.tensor(x)).numpy()
    c = (1, -1, 1, 1)
    expected = ((x - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5) * layer.gamma.numpy().reshape(c)
                + layer.beta.numpy().reshape(c))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(minigrad.backend.to_numpy(layer.running_mean), mean)
    np.testing.assert_array_equal(minigrad.backend.to_numpy(layer.running_var), var)


def test_eval_switches_batchnorm_to_running_stats_and_train_switches_back():
    model = nn.Sequential(nn.Dense(3, 3), nn.BatchNorm(3))
    x = minigrad.tensor(random((6, 3)) * 3 + 2)
    train_out = model(x).numpy()
    np.testing.assert_allclose(train_out.mean(axis=0), model[1].beta.numpy(), atol=1e-5)
    eval_out = model.eval()(x).numpy()
    assert not model.training and not model[1].training
    assert np.abs(eval_out - train_out).max() > 0.1
    np.testing.assert_allclose(model.train()(x).numpy(), train_out, rtol=1e-5, atol=1e-5)


def test_batchnorm_keeps_running_stats_out_of_the_parameters():
    layer = nn.BatchNorm(4)
    assert [name for name, _ in layer.named_parameters()] == ["gamma", "beta"]
    assert [name for name, _ in layer.named_buffers()] == ["running_mean", "running_var"]
    assert not any(p is layer.running_mean or p is layer.running_var for p in layer.parameters())
    assert nn.BatchNorm(4, affine=False).parameters() == []


def test_a_batchnorm_without_a_trained_scale_keeps_gamma_at_one_as_a_buffer():
    layer = nn.BatchNorm(4, train_scale=False)
    assert [name for name, _ in layer.named_parameters()] == ["beta"]
    assert [name for name, _ in layer.named_buffers()] == ["running_mean", "running_var", "gamma"]
    assert "train_scale=False" in repr(layer)
    x = minigrad.tensor(random((8, 4), seed=1))
    shifted = nn.BatchNorm(4)
    for bn in (layer, shifted):
        bn.beta.data = bn.beta.data + 0.5
    np.testing.assert_array_equal(layer(x).numpy(), shifted(x).numpy())  # y = x̂ + β, as γ = 1
    optimizer = minigrad.optim.SGD(layer.parameters(), lr=0.1)
    (layer(x) * minigrad.tensor(random((8, 4), seed=2))).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(minigrad.backend.to_numpy(layer.gamma), np.ones(4))
    assert not np.allclose(layer.beta.numpy(), 0.5)


def test_batchnorm_running_stats_take_the_parameters_dtype(monkeypatch):
    assert nn.BatchNorm(3).running_mean.dtype == nn.BatchNorm(3).gamma.dtype == np.float32
    float64_parameter = lambda shape: minigrad.tensor(np.zeros(shape), dtype=minigrad.float64,
                                                      requires_grad=True)
    monkeypatch.setattr(minigrad.nn.batchnorm, "new_parameter", float64_parameter)
    layer = nn.BatchNorm(3)
    assert layer.gamma.dtype == layer.running_mean.dtype == layer.running_var.dtype == np.float64


@pytest.mark.parametrize("affine", [True, False])
def test_a_float64_batchnorm_stays_float64_in_training_and_eval(affine):
    layer = nn.BatchNorm(3, momentum=0.3, affine=affine).to(dtype=minigrad.float64)
    assert all(a.dtype == np.float64 for _, a in layer.named_buffers())
    # values a float32 round trip would change: the comparisons below are to 1e-13
    xs = [random((5, 3, 2, 2), seed=s) * 1e-3 + 1 / 3 for s in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for x in xs:
        y = layer(minigrad.tensor(x, dtype=minigrad.float64))
        assert y.dtype == np.float64
        mean = 0.7 * mean + 0.3 * x.mean(axis=(0, 2, 3))
        var = 0.7 * var + 0.3 * x.var(axis=(0, 2, 3), ddof=1)
    for running, expected in ((layer.running_mean, mean), (layer.running_var, var)):
        assert running.dtype == np.float64
        np.testing.assert_allclose(minigrad.backend.to_numpy(running), expected, rtol=1e-13)
    y = layer.eval()(minigrad.tensor(xs[0], dtype=minigrad.float64))
    assert y.dtype == np.float64
    c = (1, -1, 1, 1)
    np.testing.assert_allclose(y.numpy(), (xs[0] - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5),
                               rtol=1e-10, atol=1e-12)


def test_batchnorm_errors_name_the_layer_and_shapes():
    layer = nn.BatchNorm(16)
    with pytest.raises(ValueError, match=r"BatchNorm\(16.*\(N, 16\) or \(N, 16, H, W\), got \(2, 8, 4, 4\)"):
        layer(minigrad.tensor(np.zeros((2, 8, 4, 4))))
    with pytest.raises(ValueError, match=r"got \(2, 16, 4\)"):
        layer(minigrad.tensor(np.zeros((2, 16, 4))))
    with pytest.raises(ValueError, match="more than one value per channel"):
        layer(minigrad.tensor(np.zeros((1, 16))))


# ----------------------------------------------------------------------------- Dropout
def test_layernorm_normalizes_each_sample_the_same_in_train_and_eval():
    layer = not_trivial(nn.LayerNorm((3, 2, 2)))
    x = random((4, 3, 2, 2)) * 3 + 2
    x[1] *= 10  # per sample: another sample's scale changes nothing
    y = layer(minigrad.tensor(x)).numpy()
    axes = (1, 2, 3)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    expected = x_hat * layer.gamma.numpy() + layer.beta.numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.eval()(minigrad.tensor(x)).numpy(), y)
    assert [name for name, _ in layer.named_parameters()] == ["gamma", "beta"]
    assert layer.gamma.shape == (3, 2, 2) and not list(layer.named_buffers())
    assert repr(nn.LayerNorm(5)) == "LayerNorm((5,), eps=1e-05, affine=True)"


def test_layernorm_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3, 2, 2\).*expected input of shape "
                                         r"\(N, 3, 2, 2\), got \(4, 3, 2, 3\)"):
        nn.LayerNorm((3, 2, 2))(minigrad.tensor(random((4, 3, 2, 3))))
    with pytest.raises(ValueError, match=r"layer_norm: gamma and beta must have the per-sample shape"):
        F.layer_norm(minigrad.tensor(random((4, 3))), minigrad.tensor(np.ones(4)), minigrad.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="at least 2 axes"):
        F.layer_norm(minigrad.tensor(random(3)), None, None)


def test_dropout_zeroes_about_p_and_scales_the_rest():
    x = np.ones((200, 100), np.float32)
    y = nn.Dropout(0.3)(minigrad.tensor(x)).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_is_the_identity_in_eval_mode_and_at_p_zero():
    x = minigrad.tensor(random((4, 5)))
    np.testing.assert_array_equal(nn.Dropout(0.5).eval()(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), np.zeros((4, 5)))


def test_dropout_mask_follows_the_seed_and_gradient_uses_the_same_mask():
    x = minigrad.tensor(np.ones((3, 50)), requires_grad=True)
    minigrad.manual_seed(5)
    first = nn.Dropout(0.5)(x)
    minigrad.manual_seed(5)
    second = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    first.sum().backward()
    np.testing.assert_array_equal(minigrad.backend.to_numpy(x.grad), first.numpy())


def test_dropout_rejects_a_probability_outside_zero_one():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


# ----------------------------------------------------------------------------- shape layers
def test_flatten_and_reshape_round_trip():
    x = minigrad.tensor(random((2, 3, 4, 4)))
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 48)
    np.testing.assert_array_equal(nn.Reshape((3, 4, 4))(flat).numpy(), x.numpy())
    assert nn.Reshape((3, -1))(flat).shape == (2, 3, 16)


def test_reshape_error_says_how_many_values_it_needs():
    with pytest.raises(ValueError, match=r"Reshape\(shape=\(128, 7, 7\)\).*6272 values per sample.*\(2, 100\)"):
        nn.Reshape((128, 7, 7))(minigrad.tensor(np.zeros((2, 100))))


@needs_conv
def test_conv_layers_have_pytorch_shapes():
    x = minigrad.tensor(random((2, 3, 8, 8)))
    conv = nn.Conv2D(3, 5, 4, stride=2, padding=1)
    assert conv.weight.shape == (5, 3, 4, 4) and conv(x).shape == (2, 5, 4, 4)
    deconv = nn.ConvTranspose2D(3, 5, 4, stride=2, padding=1)
    assert deconv.weight.shape == (3, 5, 4, 4) and deconv(x).shape == (2, 5, 16, 16)
    assert nn.Conv2D(3, 2, 3, stride=2, padding="same")(x).shape == (2, 2, 4, 4)
    up = nn.UpSampling2D(2)(x)
    np.testing.assert_array_equal(up.numpy()[:, :, ::2, 1::2], x.numpy())


def test_conv_errors_name_the_layer_and_the_channels():
    conv = nn.Conv2D(1, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(1, 8.*\(N, 1, H, W\), got \(2, 3, 28, 28\).*3 channels"):
        conv(minigrad.tensor(np.zeros((2, 3, 28, 28))))
    with pytest.raises(ValueError, match=r"got \(2, 784\).*Reshape"):
        conv(minigrad.tensor(np.zeros((2, 784))))
    with pytest.raises(ValueError, match=r"ConvTranspose2D\(16, 8.*\(N, 16, H, W\), got \(2, 8, 7, 7\)"):
        nn.ConvTranspose2D(16, 8, 4)(minigrad.tensor(np.zeros((2, 8, 7, 7))))
    with pytest.raises(ValueError, match=r"UpSampling2D\(scale=2\).*\(N, C, H, W\)"):
        nn.UpSampling2D()(minigrad.tensor(np.zeros((2, 8))))


BAD_SIZES = [  # (make the layer, the message it must give)
    (lambda: nn.Dense(0, 5), r"Dense: in_features must be a positive int, got 0"),
    (lambda: nn.Dense(3, -2), r"Dense: out_features must be a positive int, got -2"),
    (lambda: nn.Dense(3.0, 2), r"Dense: in_features must be a positive int, got 3.0"),
    (lambda: nn.Conv2D(0, 8, 3), r"Conv2D: in_channels must be a positive int, got 0"),
    (lambda: nn.Conv2D(1, 0, 3), r"Conv2D: out_channels must be a positive int, got 0"),
    (lambda: nn.Conv2D(1, 8, 0), r"Conv2D: kernel_size must be a positive int or a pair of them, got 0"),
    (lambda: nn.Conv2D(1, 8, (3, 0)), r"Conv2D: kernel_size .* got \(3, 0\)"),
    (lambda: nn.Conv2D(1, 8, (3, 3, 3)), r"Conv2D: kernel_size .* got \(3, 3, 3\)"),
    (lambda: nn.Conv2D(1, 8, 3, stride=0), r"Conv2D: stride must be a positive int or a pair of them, got 0"),
    (lambda: nn.ConvTranspose2D(-1, 8, 4), r"ConvTranspose2D: in_channels must be a positive int, got -1"),
    (lambda: nn.ConvTranspose2D(1, 0, 4), r"ConvTranspose2D: out_channels .* got 0"),
    (lambda: nn.ConvTranspose2D(1, 8, -4), r"ConvTranspose2D: kernel_size .* got -4"),
    (lambda: nn.ConvTranspose2D(1, 8, 4, stride=(2, 0)), r"ConvTranspose2D: stride .* got \(2, 0\)"),
    (lambda: nn.BatchNorm(0), r"BatchNorm: num_features must be a positive int, got 0"),
    (lambda: nn.LayerNorm(0), r"LayerNorm: normalized_shape must be a positive int or a tuple of them, got 0"),
    (lambda: nn.LayerNorm((3, 0, 2)), r"LayerNorm: normalized_shape .* got \(3, 0, 2\)"),
    (lambda: nn.LayerNorm(()), r"LayerNorm: normalized_shape .* got \(\)"),
    (lambda: nn.LayerNorm(2.5), r"LayerNorm: normalized_shape .* got 2.5"),
    (lambda: nn.UpSampling2D(0), r"UpSampling2D: scale must be a positive int, got 0"),
    (lambda: nn.UpSampling2D(1.5), r"UpSampling2D: scale must be a positive int, got 1.5"),
    (lambda: nn.Reshape((0, 7)), r"Reshape: shape must be positive ints.*got \(0, 7\)"),
    (lambda: nn.Reshape((-1, -1)), r"Reshape: shape .* got \(-1, -1\)"),
    (lambda: nn.Reshape((7, -2)), r"Reshape: shape .* got \(7, -2\)"),
    (lambda: nn.Reshape("7x7"), r"Reshape: shape .* got '7x7'"),
    (lambda: nn.Dropout(-0.1), r"Dropout: p must be in \[0, 1\], got -0.1"),
]


@pytest.mark.parametrize("make_layer, message", BAD_SIZES)
def test_layers_refuse_sizes_that_are_not_positive(make_layer, message):
    with pytest.raises(ValueError, match=message):
        make_layer()


# ----------------------------------------------------------------------------- initializers
def test_default_init_is_pytorch_kaiming_uniform():
    for layer, fan_in in [(nn.Dense(400, 300), 400), (nn.Conv2D(16, 300, 5), 16 * 25),
                          (nn.ConvTranspose2D(300, 16, 5), 16 * 25)]:
        bound = 1 / math.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            assert p.dtype == np.float32 and p.device == minigrad.get_backend()
            assert np.abs(p.numpy()).max() <= bound
        weights = layer.weight.numpy()  # thousands of draws: uniform over the whole range
        assert np.abs(weights).max() > 0.99 * bound
        assert abs(weights.std() - bound / math.sqrt(3)) < 0.05 * bound


@pytest.mark.parametrize("dtype", [minigrad.float32, minigrad.float64])
def test_normal_init_fills_a_tensor_in_place_on_its_backend_and_dtype(dtype):
    t = minigrad.tensor(np.zeros((300, 200)), dtype=dtype, requires_grad=True)
    assert nn.init.normal_(t, mean=1.5, std=0.3) is t
    assert t.dtype == dtype and t.device == minigrad.get_backend() and t.requires_grad
    draws = t.numpy()
    assert abs(draws.mean() - 1.5) < 0.003 and abs(draws.std() - 0.3) < 0.003
    default = nn.init.normal_(minigrad.tensor(np.zeros((300, 200)), dtype=dtype)).numpy()
    assert abs(default.mean()) < 0.0003 and abs(default.std() - 0.02) < 0.0003


def test_normal_init_refuses_a_model_and_says_to_apply_a_function():
    with pytest.raises(TypeError, match=r"normal_ fills a Tensor, not a Sequential.*model.apply"):
        nn.init.normal_(nn.Sequential(nn.Dense(2, 2)))


def test_init_imports_none_of_the_layers():
    """nn/init.py sits below the layers, which import it: no cycle."""
    source = pathlib.Path(nn.init.__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"layers", "conv", "batchnorm", "module"}, imported


def test_init_is_reproducible_from_the_seed():
    minigrad.manual_seed(3)
    first = nn.Dense(5, 4).state_dict()
    minigrad.manual_seed(3)
    second = nn.Dense(5, 4).state_dict()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


# ----------------------------------------------------------------------------- Module
class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Dense(3, 4), nn.BatchNorm(4), nn.ReLU())
        self.scale = minigrad.tensor(np.ones(1), requires_grad=True)
        self.head = nn.Dense(4, 2)
        self.note = "not a parameter"
        self.frozen = minigrad.tensor(np.ones(2))  # requires_grad=False: not a parameter

    def forward(self, x):
        return self.head(self.body(x) * self.scale)


def test_parameters_in_registration_order_without_buffers():
    model = TwoLayers()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["body.0.weight", "body.0.bias", "body.1.gamma", "body.1.beta", "scale",
                     "head.weight", "head.bias"]
    assert [p.shape for p in model.parameters()] == [(4, 3), (4,), (4,), (4,), (1,), (2, 4), (2,)]
    assert [name for name, _ in model.named_buffers()] == ["body.1.running_mean", "body.1.running_var"]


def test_a_shared_parameter_is_listed_once():
    shared = nn.Dense(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(model.parameters()) == 2


def modes(model):
    return {name: module.training for name, module in model.named_modules()}


def test_evaluating_puts_every_module_in_eval_mode_and_restores_each_mode():
    model = TwoLayers()
    model.body[1].eval()  # mixed: one BatchNorm already in eval mode, the rest training
    before = modes(model)
    assert before["body.1"] is False and before["head"] is True and before[""] is True
    x = minigrad.tensor(random((6, 3)))
    running_mean = minigrad.backend.to_numpy(model.body[1].running_mean).copy()
    with model.evaluating() as inside:
        assert inside is model and not any(modes(model).values())
        model(x)
    assert modes(model) == before
    np.testing.assert_array_equal(minigrad.backend.to_numpy(model.body[1].running_mean), running_mean)
    with model.body.evaluating():  # a part only: the rest of the model is left alone
        assert modes(model) == {**before, "body": False, "body.0": False, "body.2": False}
    assert modes(model) == before


def test_evaluating_restores_the_modes_after_an_exception_and_when_nested():
    model = TwoLayers()
    model.head.eval()
    before = modes(model)
    with pytest.raises(RuntimeError, match="inside"):
        with model.evaluating():
            raise RuntimeError("inside")
    assert modes(model) == before
    with model.evaluating():
        with model.body.evaluating():
            pass
        assert not any(modes(model).values())  # the inner block restores eval, not train
    assert modes(model) == before


def test_zero_grad_clears_every_gradient():
    model = TwoLayers()
    model(minigrad.tensor(random((5, 3)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_round_trip_restores_outputs():
    minigrad.manual_seed(1)
    source = TwoLayers()
    source(minigrad.tensor(random((6, 3))))  # moves the running statistics
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()] + \
        [name for name, _ in source.named_buffers()]
    assert all(type(a) is np.ndarray for a in state.values())
    minigrad.manual_seed(2)
    target = TwoLayers()
    x = minigrad.tensor(random((4, 3), seed=3))
    assert not np.allclose(target.eval()(x).numpy(), source.eval()(x).numpy())
    target.load_state_dict(state)
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())


def test_state_dict_is_a_copy_and_loading_copies():
    model = nn.Dense(2, 2)
    state = model.state_dict()
    state["weight"][...] = 5.0
    assert not np.any(model.weight.numpy() == 5.0)
    model.load_state_dict(state)
    state["weight"][...] = 7.0
    np.testing.assert_array_equal(model.weight.numpy(), 5.0)


def test_state_dict_loads_onto_the_modules_backend_and_dtype():
    source = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2)).to("numpy", minigrad.float64)
    state = source.state_dict()
    assert state["0.weight"].dtype == np.float64
    target = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))  # on the test's backend, float32
    target.load_state_dict(state)
    for p in target.parameters():
        assert p.device == minigrad.get_backend() and p.dtype == np.float32
    assert minigrad.backend.backend_of(target[1].running_var) == minigrad.get_backend()
    np.testing.assert_allclose(target[0].weight.numpy(), state["0.weight"], rtol=1e-6)


def test_load_state_dict_names_missing_unexpected_and_mismatched_keys():
    model = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    state = model.state_dict()
    del state["1.running_var"]
    state["2.weight"] = np.zeros(3)
    state["0.bias"] = np.zeros(5)
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "missing keys ['1.running_var']" in message
    assert "unexpected keys ['2.weight']" in message
    assert "0.bias: expected (2,), got (5,)" in message


def test_to_converts_in_place_and_keeps_the_same_tensors():
    model = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    params = model.parameters()
    assert model.to(dtype=minigrad.float64) is model
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert all(p.dtype == np.float64 for p in params)
    assert model[1].running_mean.dtype == np.float64
    model.to("numpy")
    assert all(p.device == "numpy" for p in params)
    assert minigrad.backend.backend_of(model[1].running_mean) == "numpy"


def test_repr_is_nested_like_pytorch():
    model = nn.Sequential(nn.Dense(100, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                          nn.Sequential(nn.BatchNorm(256), nn.Tanh()))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Dense(in_features=100, out_features=256, bias=True)\n"
        "  (1): LeakyReLU(negative_slope=0.2)\n"
        "  (2): Dropout(p=0.3)\n"
        "  (3): Sequential(\n"
        "    (0): BatchNorm(256, eps=1e-05, momentum=0.1, affine=True)\n"
        "    (1): Tanh()\n"
        "  )\n"
        ")")
    assert repr(nn.Conv2D(1, 64, 4, 2, 1, bias=False)) == \
        "Conv2D(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)"
    assert repr(nn.ConvTranspose2D(64, 1, 3, 2, 1, output_padding=1)) == \
        "ConvTranspose2D(64, 1, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))"


def test_sequential_indexes_iterates_and_refuses_non_modules():
    layers = [nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    assert list(model[1:]) == layers[1:]
    with pytest.raises(TypeError, match="argument 1 is a function"):
        nn.Sequential(nn.ReLU(), F.relu)


def test_a_module_that_skips_super_init_still_works():
    class Scale(nn.Module):
        def __init__(self):  # no super().__init__(): parameters are still found
            self.factor = minigrad.tensor([2.0], requires_grad=True)

        def forward(self, x):
            return x * self.factor

    model = nn.Sequential(Scale(), nn.BatchNorm(1))
    assert [name for name, _ in model.named_parameters()] == ["0.factor", "1.gamma", "1.beta"]
    assert not model.eval()[0].training
    assert list(model.state_dict()) == ["0.factor", "1.gamma", "1.beta", "1.running_mean",
                                        "1.running_var"]


def test_a_capturable_moving_average_follows_the_eager_one(backend):
    """capturable=True keeps t on the device and computes the rate there: over 20 updates of
    weights and BatchNorm statistics the copy is the eager one's, to float32 rounding; t
    advances in place, and `updates` reads it and sets it (a resumed run) in place."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Dense(3, 4), nn.BatchNorm(4))
    averages = [nn.ExponentialMovingAverage(model, 0.9, capturable=c) for c in (False, True)]
    counter = averages[1]._updates
    assert minigrad.backend.backend_of(counter) == backend and counter.dtype == np.int64
    rng = np.random.default_rng(1)
    for _ in range(20):
        for p in model.parameters():
            p.data += minigrad.backend.as_array_like(rng.standard_normal(p.shape), p.data, p.dtype)
        model(minigrad.tensor(rng.standard_normal((8, 3))))  # moves the running statistics
        for average in averages:
            average.update()
    eager, capturable = (average.average.state_dict() for average in averages)
    for name, value in eager.items():
        np.testing.assert_allclose(capturable[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
    assert averages[1].updates == 20 and averages[1]._updates is counter
    averages[1].updates = 100
    assert averages[1].updates == 100 and averages[1]._updates is counter
