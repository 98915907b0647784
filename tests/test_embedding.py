"""The embedding lookup: its forward is a row read, its backward a scatter-add, checked
against finite differences to first and second order, and nn.Embedding's errors."""
import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import nn
from minigrad.gradcheck import GradcheckError
from minigrad.ops.embedding import Embedding

IDS = np.array([[2, 0, 2], [4, 1, 2]])  # (2, 3): row 2 read three times, row 3 never


def table(seed=0, shape=(5, 4)):
    return np.random.default_rng(seed).standard_normal(shape)


def test_forward_reads_the_rows_and_backward_adds_into_them(backend):
    weight = minigrad.tensor(table(), requires_grad=True, dtype=minigrad.float64)
    y = F.embedding(IDS, weight)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y.numpy(), table()[IDS])
    gy = np.random.default_rng(1).standard_normal((2, 3, 4))
    y.backward(gy)
    expected = np.zeros((5, 4))
    for s in np.ndindex(IDS.shape):
        expected[IDS[s]] += gy[s]
    grad = minigrad.backend.to_numpy(weight.grad)
    np.testing.assert_allclose(grad, expected)
    assert not grad[3].any()  # a row never read gets no gradient
    np.testing.assert_allclose(grad, np.eye(5)[IDS].reshape(-1, 5).T @ gy.reshape(-1, 4))  # onehotᵀ gy


def test_embedding_gradients_match_finite_differences(backend):
    weight = table()
    assert minigrad.gradcheck(lambda w: F.embedding(IDS, w), [weight])
    assert minigrad.gradcheck(lambda w: F.embedding(IDS, w), [weight], mode="directional")


def test_embedding_second_derivatives_match_finite_differences(backend):
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    assert minigrad.gradgradcheck(lambda w: F.embedding(IDS, w) ** 3, [table()])
    assert minigrad.gradgradcheck(lambda w, x: F.embedding(IDS, w) * x, [table(), x])  # the cross term


class ForgetfulEmbedding(Embedding):
    """Writes each row's gradient instead of adding it: a row read twice keeps one."""

    def backward(self, gy):
        gw = minigrad.get_array_module(gy).zeros(self.weight_shape, dtype=gy.dtype)
        gw[self.ids] = gy
        return gw


def test_gradcheck_catches_a_backward_that_drops_repeated_rows():
    ids = minigrad.tensor(IDS, dtype=np.int64).data  # on the active backend
    with pytest.raises(GradcheckError):
        minigrad.gradcheck(lambda w: ForgetfulEmbedding.apply(w, ids=ids), [table()])


def test_embedding_layer_is_trained_like_any_layer(backend):
    minigrad.manual_seed(0)
    layer = nn.Embedding(10, 3).to(dtype=minigrad.float64)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Embedding(num_embeddings=10, dim=3)"
    labels = minigrad.tensor([7, 7, 1], dtype=np.int64)
    assert layer(labels).shape == (3, 3)
    assert minigrad.gradcheck(lambda: layer(labels), [], params=layer.parameters())


@pytest.mark.parametrize("ids, error, words", [
    ([0, 10], ValueError, "ids must be in [0, 10), got values from 0 to 10"),
    ([-1], ValueError, "from -1"),
    ([0.0, 1.0], TypeError, "ids must be integers"),
])
def test_embedding_refuses_ids_outside_the_table(ids, error, words):
    layer = nn.Embedding(10, 3)
    with pytest.raises(error) as caught:
        layer(np.array(ids))
    assert words in str(caught.value)


def test_embedding_refuses_a_bad_size():
    with pytest.raises(ValueError, match="Embedding: dim must be a positive int"):
        nn.Embedding(10, 0)
