"""The engine on CuPy: a few ops' forward and gradient checks, moves and mixing errors.

Skipped where CuPy or an NVIDIA GPU is missing (the reason is in the skip message).
The whole suite runs on the GPU with `python -m pytest --backend cupy`.
"""
import numpy as np
import pytest

import minigrad
from minigrad import backend as mg_backend
from minigrad import functional as F
from minigrad.random import random_normal
from minigrad.strict import BackendMixError

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not mg_backend.cupy_available(),
                       reason=f"no CuPy GPU: {mg_backend._cupy_error}"),
]

rng = np.random.default_rng(0)
INDEX = np.array([0, 2, 0])
CONDITION = rng.random((3, 4)) > 0.5

OPS = [
    pytest.param(lambda a, b: a + b, np.add, [(3, 1, 4), (2, 4)], id="add broadcast"),
    pytest.param(F.matmul, np.matmul, [(2, 1, 3, 4), (5, 4, 2)], id="matmul batched"),
    pytest.param(lambda a: F.softmax(a, axis=-1),
                 lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), [(3, 4)], id="softmax"),
    pytest.param(lambda a: F.logsumexp(a, axis=(0, 2)),
                 lambda a: np.log(np.exp(a).sum((0, 2))), [(2, 3, 4)], id="logsumexp"),
    pytest.param(lambda a: a[INDEX], lambda a: a[INDEX], [(3, 4)], id="getitem repeated"),
    pytest.param(lambda a, b: F.where(CONDITION, a, b), lambda a, b: np.where(CONDITION, a, b),
                 [(3, 4), (4,)], id="where"),
    pytest.param(F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), [(3, 4)], id="sigmoid"),
]


def on_gpu(array, **kwargs):
    return minigrad.tensor(array, backend="cupy", **kwargs)


@pytest.mark.parametrize("fn, reference, shapes", OPS)
def test_op_on_cupy(fn, reference, shapes):
    inputs = [rng.standard_normal(shape) for shape in shapes]
    y = fn(*[on_gpu(x) for x in inputs])
    assert y.device == "cupy"
    np.testing.assert_allclose(y.numpy(), reference(*inputs), rtol=1e-5, atol=1e-6)
    tensors = [on_gpu(x, dtype=minigrad.float64, requires_grad=True) for x in inputs]
    assert minigrad.gradcheck(fn, tensors)


def test_cupy_and_numpy_tensors_do_not_mix():
    with pytest.raises(BackendMixError, match="cupy and numpy"):
        on_gpu([1.0, 2.0]) + minigrad.tensor([1.0, 2.0], backend="numpy")


def test_moves_and_host_copies():
    t = minigrad.tensor([1.0, 2.0], backend="numpy").to("cupy")
    assert t.device == "cupy"
    assert type(t.numpy()) is np.ndarray
    assert t.to("numpy").device == "numpy"


def test_manual_seed_on_cupy():
    minigrad.manual_seed(3)
    first = random_normal((5,), minigrad.float32, "cupy")
    minigrad.manual_seed(3)
    again = random_normal((5,), minigrad.float32, "cupy")
    np.testing.assert_array_equal(mg_backend.to_numpy(first), mg_backend.to_numpy(again))
