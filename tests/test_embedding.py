"""The embedding lookup: its forward is a row read, its backward a scatter-add (on the GPU one
product, the same at every run), checked against finite differences to first and second
order, and nn.Embedding's errors."""
import contextlib

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import kernels, nn
from minigrad.ops import embedding as embedding_op
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


def test_on_the_gpus_route_the_gradient_is_one_product_not_atomic_adds(backend, monkeypatch):
    """On CuPy add.at adds with atomics in no fixed order, so a row read twice would get a
    gradient whose last bits change from run to run; the kernels' route (CuPy's, emulated here
    on the CPU) computes onehot(ids)ᵀ·gy as one product instead: the same gradient."""
    products = []
    real_matmul = embedding_op.matmul

    def counted(a, b):
        products.append((a.shape, b.shape))
        return real_matmul(a, b)
    monkeypatch.setattr(embedding_op, "matmul", counted)
    gy = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    grads = []
    for route in ("numpy passes", "kernels"):
        weight = minigrad.tensor(table(), requires_grad=True, dtype=minigrad.float32)
        with kernels.emulated() if route == "kernels" else contextlib.nullcontext():
            F.embedding(IDS, weight).backward(gy)
        grads.append(minigrad.backend.to_numpy(weight.grad))
    assert products == [((5, 6), (6, 4))]  # the kernels' route only: (rows, ids) by (ids, dim)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6, atol=1e-6)
    assert not grads[1][3].any()
    with kernels.emulated():
        assert minigrad.gradcheck(lambda w: F.embedding(IDS, w), [table()])


@pytest.mark.gpu
def test_on_a_gpu_an_embeddings_gradient_is_the_same_at_every_run(backend):
    if backend != "cupy":
        pytest.skip("needs CuPy and an NVIDIA GPU: python -m pytest --backend cupy")
    ids = np.random.default_rng(0).integers(0, 10, size=4096)  # every row read about 400 times
    gy = minigrad.tensor(np.random.default_rng(1).standard_normal((4096, 64)), dtype=minigrad.float32)
    grads = []
    for _ in range(3):
        weight = minigrad.tensor(table(shape=(10, 64)), requires_grad=True, dtype=minigrad.float32)
        F.embedding(ids, weight).backward(gy.data)
        grads.append(minigrad.backend.to_numpy(weight.grad))
    for grad in grads[1:]:
        np.testing.assert_array_equal(grad, grads[0])
    expected = np.zeros((10, 64))
    np.add.at(expected, ids, minigrad.backend.to_numpy(gy.data).astype(np.float64))
    np.testing.assert_allclose(grads[0], expected, rtol=1e-4, atol=1e-4)
