"""Additive Gaussian noise, a regulariser of the Improved-GAN discriminator: y = x + σ·ε
with ε ~ N(0, 1) drawn on x's backend, in training only. Composed of an Add with a
constant, so its gradients (gx = gy, to any order) are Add's."""
from ..backend import backend_of
from ..random import random_normal
from ..tensor import Tensor


def gaussian_noise(x, sigma, training=True):
    """x + N(0, sigma²) noise of x's shape, dtype and backend; x itself when not training
    or sigma == 0."""
    if not sigma >= 0:
        raise ValueError(f"gaussian_noise: sigma must be 0 or more, got {sigma}")
    if not training or sigma == 0:
        return x
    noise = random_normal(x.shape, x.dtype, backend_of(x.data))
    noise *= sigma
    return x + Tensor._wrap(noise)
