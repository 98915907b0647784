"""Every op as a function: `minigrad.functional.relu(x)`, usually imported as F.

Arguments may be Tensors or numbers (a number becomes a constant of the tensor's dtype).

A flat table: each line below applies one op's Function. The ops that check their
arguments or choose a route (matmul, linear, the convolutions, batch_norm, layer_norm,
dropout, embedding, gaussian_noise, weight_norm, the losses, pow, where, getitem) are
functions written beside their Function in minigrad/ops/ and imported here as they are.
"""
from .ops.arithmetic import Add, Div, Mul, Neg, Sub, matmul, pow
from .ops.conv import conv2d, conv_transpose2d, upsample_conv2d, upsample_nearest2d
from .ops.dropout import dropout
from .ops.embedding import embedding
from .ops.elementwise import (Clip, Exp, LeakyReLU, Log, ReLU, Sigmoid, Softplus, Sqrt,
                              Tanh, where)
from .ops.linear import linear, weight_norm
from .ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                       feature_matching_loss)
from .ops.noise import gaussian_noise
from .ops.normalization import batch_norm, layer_norm
from .ops.reduction import LogSoftmax, LogSumExp, Max, Mean, Softmax, Sum
from .ops.shape import BroadcastTo, Concatenate, Reshape, Transpose, getitem

def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def neg(x): return Neg.apply(x)


def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def tanh(x): return Tanh.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def relu(x): return ReLU.apply(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU.apply(x, slope=negative_slope)
def softplus(x): return Softplus.apply(x)
def clip(x, low, high): return Clip.apply(x, low=low, high=high)


def sum(x, axis=None, keepdims=False): return Sum.apply(x, axis=axis, keepdims=keepdims)
def mean(x, axis=None, keepdims=False): return Mean.apply(x, axis=axis, keepdims=keepdims)
def max(x, axis=None, keepdims=False): return Max.apply(x, axis=axis, keepdims=keepdims)
def logsumexp(x, axis=None, keepdims=False): return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
def softmax(x, axis=-1): return Softmax.apply(x, axis=axis)
def log_softmax(x, axis=-1): return LogSoftmax.apply(x, axis=axis)


def reshape(x, shape): return Reshape.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))
def transpose(x, axes=None): return Transpose.apply(x, axes=axes)
def broadcast_to(x, shape): return BroadcastTo.apply(x, shape=tuple(shape))
def flatten(x): return reshape(x, (x.shape[0], -1))
def concatenate(tensors, axis=0): return Concatenate.apply(*tensors, axis=axis)
