"""Losses: values and gradients against hand-computed ones, finite at extreme logits and
probabilities, float64 gradient checks, and the errors for mismatched targets."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import functional as F


def leaf(values, dtype=minigrad.float32):
    return minigrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, dtype=dtype)


def grad_of(t):
    return minigrad.backend.to_numpy(t.grad)


# ----------------------------------------------------------------------------- with logits
@pytest.mark.parametrize("dtype", [minigrad.float32, minigrad.float64])
def test_bce_with_logits_is_exact_at_extreme_logits(dtype):
    x = leaf([[-100.0, 100.0, 100.0, -100.0, 0.0, 2.0]], dtype)
    t = np.array([[1.0, 0.0, 1.0, 0.0, 0.5, 1.0]])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
    loss.backward()
    # by hand: -ln σ(-100) = 100 (+ ln(1 + e^-100) ≈ 4e-44), -ln(1 - σ(100)) = 100,
    # -ln σ(100) ≈ 0, -ln(1 - σ(-100)) ≈ 0, ln 2 at 0 whatever t, -ln σ(2) = ln(1 + e^-2)
    expected = 100 + 100 + 0 + 0 + math.log(2) + math.log1p(math.exp(-2))
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    sigmoid_2 = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(grad_of(x), [[-1, 1, 0, 0, 0, sigmoid_2 - 1]], atol=1e-7)


def test_bce_with_logits_mean_divides_by_the_element_count():
    x = leaf([[0.0, 0.0], [0.0, 0.0]])
    loss = F.binary_cross_entropy_with_logits(x, 1.0)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(2))
    np.testing.assert_allclose(grad_of(x), np.full((2, 2), -0.5 / 4))


def test_bce_with_logits_equals_bce_on_probabilities_away_from_the_clip():
    logits = np.random.default_rng(0).standard_normal((5, 3)) * 3
    targets = np.random.default_rng(1).random((5, 3))
    a = F.binary_cross_entropy_with_logits(leaf(logits, minigrad.float64), targets).item()
    b = F.binary_cross_entropy(F.sigmoid(leaf(logits, minigrad.float64)), targets).item()
    assert a == pytest.approx(b, rel=1e-12)


def test_bce_with_logits_accepts_numbers_arrays_and_tensors_as_targets():
    x = leaf(np.linspace(-3, 3, 6).reshape(3, 2))
    t = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    from_array = F.binary_cross_entropy_with_logits(x, t).item()
    assert F.binary_cross_entropy_with_logits(x, minigrad.tensor(t)).item() == from_array
    ones = F.binary_cross_entropy_with_logits(x, 1).item()
    assert ones == pytest.approx(F.binary_cross_entropy_with_logits(x, np.ones((3, 2))).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_gradcheck(reduction):
    targets = np.random.default_rng(2).random((4, 3))
    logits = np.random.default_rng(3).standard_normal((4, 3)) * 4
    assert minigrad.gradcheck(
        lambda x: F.binary_cross_entropy_with_logits(x, targets, reduction), [logits])


def test_targets_must_have_the_predictions_shape():
    x = leaf(np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\) for predictions of shape \(4, 1\)"):
        F.binary_cross_entropy_with_logits(x, np.ones(4))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\)"):
        F.binary_cross_entropy(F.sigmoid(x), np.ones(4))


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match=r"reduction must be one of .* not 'average'"):
        F.binary_cross_entropy_with_logits(leaf([0.0]), 1.0, reduction="average")


# ----------------------------------------------------------------------------- on probabilities
@pytest.mark.parametrize("dtype", [minigrad.float32, minigrad.float64])
def test_bce_never_takes_log_zero(dtype):
    p = leaf([0.0, 1.0, 0.0, 1.0, 0.5], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    losses = F.binary_cross_entropy(p, t, reduction="none")
    losses.backward(minigrad.tensor(np.ones(5), dtype=dtype))
    eps = 1e-7  # p is clipped to [eps, 1 - eps]
    one_minus_eps = float(np.asarray(1 - eps, dtype))  # 1 - 1e-7 rounds in float32
    clipped_low, clipped_high = float(np.asarray(eps, dtype)), one_minus_eps
    expected = [-math.log(clipped_low), -math.log(1 - clipped_high),
                -math.log(1 - clipped_low), -math.log(clipped_high), math.log(2)]
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-5)
    grads = grad_of(p)
    assert np.all(np.isfinite(grads))
    # (p̃ - t) / (p̃ (1 - p̃)): about -1/ε, +1/ε, +1, -1, and -2 at p = 0.5, t = 1
    np.testing.assert_allclose(grads[[2, 3, 4]], [1, -1, -2], rtol=1e-5)
    assert grads[0] < -1e6 and grads[1] > 1e6


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_gradcheck(reduction):
    probs = np.random.default_rng(4).uniform(0.05, 0.95, (3, 4))
    targets = (np.random.default_rng(5).random((3, 4)) > 0.5).astype(np.float64)
    assert minigrad.gradcheck(lambda p: F.binary_cross_entropy(p, targets, reduction), [probs])


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("dtype", [minigrad.float32, minigrad.float64])
def test_cross_entropy_at_extreme_logits_is_finite_and_exact(dtype):
    x = leaf([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype)
    loss = F.cross_entropy(x, np.array([1, 2, 0]), reduction="sum")
    loss.backward()
    # by hand: row 0: logsumexp = 1000, minus x[1] = -1000: 2000; row 1: ln 3;
    # row 2: logsumexp = 1000 + ln 2, minus x[0] = -1000: 2000 + ln 2
    assert loss.item() == pytest.approx(2000 + math.log(3) + 2000 + math.log(2), rel=1e-6)
    third = 1 / 3
    np.testing.assert_allclose(grad_of(x), [[1, -1, 0], [third, third, third - 1], [-1, 0.5, 0.5]],
                               atol=1e-6)


def test_cross_entropy_labels_equal_one_hot_targets():
    logits = np.random.default_rng(6).standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    a, b = leaf(logits), leaf(logits)
    by_label = F.cross_entropy(a, labels)
    by_one_hot = F.cross_entropy(b, np.eye(4)[labels])
    by_label.backward()
    by_one_hot.backward()
    assert by_label.item() == pytest.approx(by_one_hot.item(), rel=1e-6)
    np.testing.assert_allclose(grad_of(a), grad_of(b), atol=1e-7)
    # mean over rows: (softmax - onehot) / N
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad_of(a), (softmax - np.eye(4)[labels]) / 5, atol=1e-6)


def test_cross_entropy_accepts_labels_as_a_list_or_a_tensor():
    x = leaf(np.random.default_rng(7).standard_normal((3, 4)))
    expected = F.cross_entropy(x, np.array([1, 0, 3])).item()
    assert F.cross_entropy(x, [1, 0, 3]).item() == expected
    assert F.cross_entropy(x, minigrad.tensor([1, 0, 3])).item() == expected


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck_with_labels(reduction):
    logits = np.random.default_rng(8).standard_normal((4, 5)) * 3
    labels = np.array([4, 0, 2, 2])
    assert minigrad.gradcheck(lambda x: F.cross_entropy(x, labels, reduction), [logits])


def test_cross_entropy_gradcheck_with_soft_targets_not_summing_to_one():
    logits = np.random.default_rng(9).standard_normal((3, 4))
    targets = np.random.default_rng(10).random((3, 4))
    assert minigrad.gradcheck(lambda x: F.cross_entropy(x, targets), [logits])


def test_cross_entropy_refuses_bad_labels():
    x = leaf(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"integers in \[0, 4\); got values from 0.0 to 4.0"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"got values from -1.0"):
        F.cross_entropy(x, np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match=r"class labels of shape \(3,\) or probabilities of shape \(3, 4\); got shape \(3, 1\)"):
        F.cross_entropy(x, np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"expected logits \(N, C\)"):
        F.cross_entropy(leaf(np.zeros(4)), np.array([1]))


# ----------------------------------------------------------------------------- feature matching
def test_feature_matching_loss_is_the_squared_distance_of_the_batch_means():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    loss = F.feature_matching_loss(minigrad.tensor(real, dtype=minigrad.float64),
                                   minigrad.tensor(fake, dtype=minigrad.float64))
    expected = ((real.mean(axis=0) - fake.mean(axis=0)) ** 2).sum()
    assert loss.shape == () and abs(loss.item() - expected) < 1e-12


def test_feature_matching_loss_gradient_reaches_the_fake_side_only():
    rng = np.random.default_rng(1)
    real = minigrad.tensor(rng.standard_normal((6, 4)), requires_grad=True, dtype=minigrad.float64)
    fake = minigrad.tensor(rng.standard_normal((5, 4)), requires_grad=True, dtype=minigrad.float64)
    F.feature_matching_loss(real, fake).backward()
    assert real.grad is None  # detached: the real features are the target
    difference = real.numpy().mean(axis=0) - fake.numpy().mean(axis=0)
    np.testing.assert_allclose(minigrad.backend.to_numpy(fake.grad), np.tile(-2 * difference / 5, (5, 1)), atol=1e-12)
    assert minigrad.gradcheck(lambda f: F.feature_matching_loss(real, f), [fake.numpy()])


def test_feature_matching_loss_refuses_features_of_other_shapes():
    with pytest.raises(ValueError, match="differ beyond the batch axis"):
        F.feature_matching_loss(minigrad.tensor(np.zeros((4, 3))), minigrad.tensor(np.zeros((4, 2))))
