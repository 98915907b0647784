"""Initial values of parameters. Functions ending in _ fill a tensor in place (the same
Tensor object gets a new array, on its backend and in its dtype).

The layers' defaults are PyTorch's:
  weight  kaiming_uniform_(a=√5): U(−b, b), b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)),
          which for a = √5 is simply b = 1/√fan_in
  bias    U(−1/√fan_in, 1/√fan_in)
where fan_in = weight.shape[1]·kh·kw: `in` for Dense (out, in), in·kh·kw for Conv2D
(out, in, kh, kw), and, as PyTorch computes it, out·kh·kw for ConvTranspose2D (in, out, kh, kw).

These work on tensors only, so this module needs none of the layers (which import it).
A scheme for a whole model is a function of one module applied with `model.apply(fn)`,
kept beside the model: the DCGAN paper's is `dcgan_init` in gan/models.py.
"""
import math

from .. import backend
from ..random import random_normal, random_uniform
from ..tensor import Tensor


def fan_in(shape):
    """Inputs feeding one output of a weight of this shape (see the module docstring)."""
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field


def _draw(tensor, sampler):
    data = tensor.data
    return sampler(data.shape, data.dtype, backend.backend_of(data))


def uniform_(tensor, low, high):
    """Fill with U(low, high)."""
    tensor.data = _draw(tensor, random_uniform) * (high - low) + low
    return tensor


def constant_(tensor, value):
    tensor.data = backend.get_array_module(tensor.data).full_like(tensor.data, value)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def kaiming_uniform_(tensor, a=math.sqrt(5)):
    """Fill with U(−b, b), b = √(2 / (1 + a²))·√(3 / fan_in): the default for weights."""
    gain = math.sqrt(2 / (1 + a * a))
    bound = gain * math.sqrt(3 / fan_in(tensor.shape))
    return uniform_(tensor, -bound, bound)


def default_init_(weight, bias):
    """PyTorch's defaults for a dense or convolution layer: kaiming-uniform (a=√5) weight,
    bias U(±1/√fan_in)."""
    kaiming_uniform_(weight)
    if bias is not None:
        bound = 1 / math.sqrt(fan_in(weight.shape))
        uniform_(bias, -bound, bound)


def normal_(tensor, mean=0.0, std=0.02):
    """Fill with N(mean, std²)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"normal_ fills a Tensor, not a {type(tensor).__name__}; for a whole "
                        "model write a function of one module and call model.apply(fn)")
    tensor.data = _draw(tensor, random_normal) * std + mean
    return tensor
