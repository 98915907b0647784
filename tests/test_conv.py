"""Conv2D, ConvTranspose2D and UpSample2D against slow loops written from the definitions,
the adjoint identity that ties the two convolutions together, and float64 gradient checks.

The fast ops go through im2col/col2im in channels-last layout and, for stride 1, may be
computed through each other's route (minigrad/functional.py); the loops below do neither.
"""
import itertools

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad.ops.conv import Conv2D, ConvTranspose2D, conv_padding


# ----------------------------------------------------------------- slow references (host NumPy)
def same_pads(size, kernel, stride):
    """Keras 'same': out = ceil(size / stride), total padding split with the extra pixel last."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d_loop(x, w, b, stride, pads):
    """y[n, o, p, q] = Σ_c,i,j w[o, c, i, j] x_pad[n, c, p·s + i, q·s + j] + b[o], one output pixel at a time."""
    n, c, h, width = x.shape
    o, _, kh, kw = w.shape
    top, bottom, left, right = pads
    x_pad = np.zeros((n, c, h + top + bottom, width + left + right))
    x_pad[:, :, top:top + h, left:left + width] = x
    out_h = (h + top + bottom - kh) // stride + 1
    out_w = (width + left + right - kw) // stride + 1
    y = np.zeros((n, o, out_h, out_w))
    for p in range(out_h):
        for q in range(out_w):
            window = x_pad[:, :, p * stride:p * stride + kh, q * stride:q * stride + kw]
            y[:, :, p, q] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + b[None, :, None, None]


def conv_transpose2d_loop(x, w, b, stride, padding, output_padding):
    """Each input pixel x[n, :, h, v] adds x·w (a KH×KW patch per output channel) at
    (h·s, v·s) of the full output; then `padding` is cut from every side (PyTorch)."""
    n, c_in, h, width = x.shape
    _, c_out, kh, kw = w.shape
    full = np.zeros((n, c_out, (h - 1) * stride + kh + output_padding,
                     (width - 1) * stride + kw + output_padding))
    for i in range(h):
        for j in range(width):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    out_h = (h - 1) * stride - 2 * padding + kh + output_padding
    out_w = (width - 1) * stride - 2 * padding + kw + output_padding
    y = full[:, :, padding:padding + out_h, padding:padding + out_w]
    return y if b is None else y + b[None, :, None, None]


def random(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------- forward sweeps
CONV_SWEEP = list(itertools.product([1, 3, 5], [1, 2], [0, 1, 2, "same", "valid"], [7, 8],
                                    [(3, 5), (5, 2), (1, 3)]))


@pytest.mark.parametrize("kernel,stride,padding,size,channels", CONV_SWEEP)
def test_conv2d_matches_loop(kernel, stride, padding, size, channels):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + size)
    c_in, c_out = channels
    x, w, b = random(rng, 2, c_in, size, size + 1), random(rng, c_out, c_in, kernel, kernel), random(rng, c_out)
    if padding == "same":
        pads = same_pads(size, kernel, stride) + same_pads(size + 1, kernel, stride)
    else:
        p = 0 if padding == "valid" else padding
        pads = (p, p, p, p)
    y = F.conv2d(minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b), stride=stride, padding=padding)
    expected = conv2d_loop(x, w, b, stride, pads)
    if padding == "same":
        assert y.shape[2:] == (-(-size // stride), -(-(size + 1) // stride))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)


CONV_T_SWEEP = [(k, s, p, op, size, ch)
                for k, s, p, op, size, ch in itertools.product(
                    [1, 3, 5], [1, 2], [0, 1, 2], [0, 1], [3, 4], [(3, 5), (5, 2), (2, 1)])
                if op < s and (size - 1) * s - 2 * p + k + op >= 1]


@pytest.mark.parametrize("kernel,stride,padding,output_padding,size,channels", CONV_T_SWEEP)
def test_conv_transpose2d_matches_loop(kernel, stride, padding, output_padding, size, channels):
    rng = np.random.default_rng(kernel * 1000 + stride * 100 + padding * 10 + size)
    c_in, c_out = channels
    x, w, b = random(rng, 2, c_in, size, size + 1), random(rng, c_in, c_out, kernel, kernel), random(rng, c_out)
    y = F.conv_transpose2d(minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b),
                           stride=stride, padding=padding, output_padding=output_padding)
    expected = conv_transpose2d_loop(x, w, b, stride, padding, output_padding)
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_asymmetric_stride_and_explicit_padding():
    rng = np.random.default_rng(1)
    x, w = random(rng, 2, 3, 9, 8), random(rng, 4, 3, 3, 2)
    y = F.conv2d(minigrad.tensor(x), minigrad.tensor(w), stride=(2, 1), padding=(0, 2, 1, 0))
    # the loop takes one stride: subsample its stride-1 output along H instead
    expected = conv2d_loop(x, w, None, 1, (0, 2, 1, 0))[:, :, ::2, :]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c_in,c_out", [(6, 2), (2, 6)])
def test_both_stride1_routes_compute_the_same_convolution(c_in, c_out):
    """conv2d may run as ConvTranspose2D of the flipped kernel (and conversely); call both ops
    directly, whichever route the functional form would pick for these channels."""
    rng = np.random.default_rng(2)
    x, w, b = random(rng, 2, c_in, 6, 5), random(rng, c_out, c_in, 3, 3), random(rng, c_out)
    pads = (1, 2, 0, 1)
    expected = conv2d_loop(x, w, b, 1, pads)
    xt, wt, bt = minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b)
    gathered = Conv2D.apply(xt, wt, bt, stride=(1, 1), pads=pads)
    flipped = wt.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    scattered = ConvTranspose2D.apply(xt, flipped, bt, stride=(1, 1), crops=(1, 0, 2, 1))
    np.testing.assert_allclose(gathered.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scattered.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_many_channels_take_the_tap_by_tap_col2im(stride):
    """col2im_of_product forms the product one tap at a time from 16 channels up."""
    rng = np.random.default_rng(12)
    x, w, b = random(rng, 2, 4, 5, 4), random(rng, 4, 20, 3, 3), random(rng, 20)
    y = F.conv_transpose2d(minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b), stride=stride, padding=1)
    np.testing.assert_allclose(y.numpy(), conv_transpose2d_loop(x, w, b, stride, 1, 0), rtol=1e-4, atol=1e-4)
    x, w, b = random(rng, 2, 20, 6, 5), random(rng, 24, 20, 3, 3), random(rng, 24)
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=1), [x, w, b],
                              mode="directional")


def test_conv_output_feeds_the_next_conv():
    """A conv returns an NCHW view of channels-last memory; the next layer and the gradient
    must see the values, not the memory order."""
    rng = np.random.default_rng(3)
    x, w1, w2 = random(rng, 2, 3, 6, 6), random(rng, 4, 3, 3, 3), random(rng, 2, 4, 3, 3)
    h = F.conv2d(minigrad.tensor(x), minigrad.tensor(w1), padding=1)
    y = F.conv_transpose2d(h, minigrad.tensor(np.ascontiguousarray(w2.transpose(1, 0, 2, 3))), stride=2)
    expected = conv_transpose2d_loop(conv2d_loop(x, w1, None, 1, (1, 1, 1, 1)), w2.transpose(1, 0, 2, 3), None, 2, 0, 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(F.flatten(h).numpy(), conv2d_loop(x, w1, None, 1, (1,) * 4).reshape(2, -1),
                               rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------- the adjoint identity
@pytest.mark.parametrize("kernel,stride,padding,size", [(3, 1, 1, 6), (3, 2, 1, 7), (3, 2, 1, 8),
                                                        (5, 2, 2, 9), (4, 3, 0, 11), (1, 1, 0, 4)])
def test_conv_transpose_is_the_adjoint_of_conv(kernel, stride, padding, size):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for every x and y, with one weight."""
    rng = np.random.default_rng(kernel + 10 * stride + 100 * size)
    x_np, w_np = random(rng, 2, 3, size, size), random(rng, 4, 3, kernel, kernel)
    x, w = minigrad.tensor(x_np, dtype=np.float64), minigrad.tensor(w_np, dtype=np.float64)
    conv_x = F.conv2d(x, w, stride=stride, padding=padding)
    out = conv_x.shape[2]
    output_padding = size - ((out - 1) * stride - 2 * padding + kernel)  # recovers x's size
    y = minigrad.tensor(random(rng, *conv_x.shape), dtype=np.float64)
    adjoint_y = F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=output_padding)
    assert adjoint_y.shape == x.shape
    lhs = float((conv_x.numpy() * y.numpy()).sum())
    rhs = float((x_np * adjoint_y.numpy()).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10)


# ----------------------------------------------------------------- gradients (float64)
def conv_inputs(rng, x_shape, w_shape, bias):
    x, w = random(rng, *x_shape), random(rng, *w_shape)
    return [x, w] + ([random(rng, w_shape[0])] if bias == "conv" else
                     [random(rng, w_shape[1])] if bias == "transpose" else [])


@pytest.mark.parametrize("x_shape,w_shape,stride,padding", [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),          # gather route (C < O)
    ((2, 4, 5, 4), (2, 4, 3, 3), 1, "same"),     # stride 1 with C > O: runs as the transposed op
    ((2, 2, 6, 7), (3, 2, 3, 2), 2, "same"),     # stride 2, asymmetric padding, even kernel
    ((1, 2, 5, 5), (2, 2, 5, 5), 2, "valid"),
])
def test_conv2d_gradcheck(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(4)
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding),
                              conv_inputs(rng, x_shape, w_shape, "conv"))


@pytest.mark.parametrize("x_shape,w_shape,stride,padding,output_padding", [
    ((2, 3, 3, 4), (3, 2, 3, 3), 2, 1, 1),       # scatter route, output_padding crops less
    ((2, 2, 4, 3), (2, 3, 3, 3), 1, 1, 0),       # stride 1 with Cin < Cout: runs as conv2d
    ((1, 2, 3, 3), (2, 2, 4, 4), 3, 0, 2),
    ((2, 3, 4, 4), (3, 1, 1, 1), 1, 0, 0),
    ((2, 3, 4, 4), (3, 1, 3, 3), 1, 0, 0),       # one output channel, no padding: gy has
])                                               # an (N, 1, H, W) shape NumPy calls NHWC-contiguous
def test_conv_transpose2d_gradcheck(x_shape, w_shape, stride, padding, output_padding):
    rng = np.random.default_rng(5)
    assert minigrad.gradcheck(
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding),
        conv_inputs(rng, x_shape, w_shape, "transpose"))


def test_gradcheck_without_bias_and_through_two_layers():
    rng = np.random.default_rng(6)
    x, w1, w2 = random(rng, 2, 2, 5, 5), random(rng, 3, 2, 3, 3), random(rng, 3, 2, 2, 2)

    def two_layers(x, w1, w2):
        return F.conv_transpose2d(F.conv2d(x, w1, stride=2, padding="same"), w2, stride=2)
    assert minigrad.gradcheck(two_layers, [x, w1, w2])


def test_gradcheck_directional_on_a_larger_conv():
    rng = np.random.default_rng(7)
    inputs = conv_inputs(rng, (4, 8, 14, 14), (16, 8, 5, 5), "conv")
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding="same"), inputs,
                              mode="directional")
    inputs = conv_inputs(rng, (4, 16, 7, 7), (16, 8, 3, 3), "transpose")
    assert minigrad.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                              inputs, mode="directional")


def test_gradients_only_where_asked():
    """The first layer of a discriminator needs no gradient for its input image."""
    rng = np.random.default_rng(8)
    x = minigrad.tensor(random(rng, 2, 1, 6, 6))
    w = minigrad.tensor(random(rng, 3, 1, 3, 3), requires_grad=True)
    y = F.conv2d(x, w, stride=2, padding="same")
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad is None and w.grad.shape == w.shape and w.grad.dtype == np.float32


def test_wrong_backward_is_caught():
    """The gradient checks above can fail: a conv whose weight gradient is off by a factor."""
    class ScaledWeightGrad(Conv2D):
        def backward(self, gy):
            gx, gw = super().backward(gy)
            return gx, gw * 1.01
    rng = np.random.default_rng(9)
    with pytest.raises(minigrad.GradcheckError, match="input 1"):
        minigrad.gradcheck(lambda x, w: ScaledWeightGrad.apply(x, w, stride=(1, 1), pads=(1, 1, 1, 1)),
                           [random(rng, 1, 2, 4, 4), random(rng, 3, 2, 3, 3)])


# ----------------------------------------------------------------- upsampling
@pytest.mark.parametrize("scale", [1, 2, 3])
def test_upsample_repeats_each_pixel(scale):
    x = np.random.default_rng(10).standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = F.upsample_nearest2d(minigrad.tensor(x), scale)
    np.testing.assert_array_equal(y.numpy(), np.repeat(np.repeat(x, scale, axis=2), scale, axis=3))


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_upsample_gradcheck(scale, layout):
    """Also with x and gy NCHW views of channels-last memory, as convolutions pass them."""
    x = np.random.default_rng(11).standard_normal((2, 2, 3, 4))
    if layout == "nchw":
        assert minigrad.gradcheck(lambda x: F.upsample_nearest2d(x, scale), [x])
    else:
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        assert minigrad.gradcheck(
            lambda x: F.upsample_nearest2d(x.transpose(0, 3, 1, 2), scale).transpose(0, 2, 3, 1), [x_nhwc])


# ----------------------------------------------------------------- upsampling + convolution
@pytest.mark.parametrize("kernel,scale,padding,size", [
    (5, 2, "same", 5),      # the Keras DCGAN's generator: four 3×3 kernels
    (4, 2, "same", 4),      # an even kernel: "same" pads 1 before, 2 after
    (3, 3, "same", 3),
    (1, 2, "same", 3),
    (3, 2, (0, 2, 1, 1), 4),  # explicit asymmetric padding that keeps the size
    (5, 2, 1, 4),           # shrinks the image: falls back to the two ops
])
def test_upsample_conv_is_upsampling_then_conv(kernel, scale, padding, size):
    rng = np.random.default_rng(12)
    x, w, b = random(rng, 2, 3, size, size), random(rng, 4, 3, kernel, kernel), random(rng, 4)
    x_up = np.repeat(np.repeat(x, scale, axis=2), scale, axis=3)
    pads = conv_padding(padding, x_up.shape[2:], (kernel, kernel), (1, 1))
    y = F.upsample_conv2d(*(minigrad.tensor(a, dtype=np.float64) for a in (x, w, b)), scale, padding)
    np.testing.assert_allclose(y.numpy(), conv2d_loop(x_up, w, b, 1, pads), rtol=1e-10, atol=1e-10)


def test_upsample_conv_gradcheck_to_second_order():
    rng = np.random.default_rng(13)
    inputs = [random(rng, 2, 2, 3, 3), random(rng, 3, 2, 5, 5), random(rng, 3)]
    assert minigrad.gradcheck(lambda x, w, b: F.upsample_conv2d(x, w, b), inputs)
    assert minigrad.gradgradcheck(lambda x, w, b: F.upsample_conv2d(x, w, b), inputs)


def test_upsample_conv_bad_inputs_name_the_problem():
    x, w = minigrad.tensor(np.zeros((2, 3, 4, 4))), minigrad.tensor(np.zeros((4, 3, 5, 5)))
    with pytest.raises(ValueError, match="upsample_conv2d"):
        F.upsample_conv2d(minigrad.tensor(np.zeros((3, 4, 4))), w)
    with pytest.raises(ValueError, match="upsample_conv2d"):
        F.upsample_conv2d(x, minigrad.tensor(np.zeros((4, 2, 5, 5))))
    with pytest.raises(ValueError, match="scale"):
        F.upsample_conv2d(x, w, scale=0)


def test_sequential_runs_upsampling_and_conv_as_one_op(monkeypatch):
    rng = np.random.default_rng(14)
    model = minigrad.nn.Sequential(minigrad.nn.UpSampling2D(2), minigrad.nn.Conv2D(3, 4, 5, padding="same"),
                                   minigrad.nn.UpSampling2D(2), minigrad.nn.Conv2D(4, 2, 3, stride=2))
    x = minigrad.tensor(random(rng, 2, 3, 4, 4).astype(np.float32))
    layer_by_layer = x
    for layer in model:
        layer_by_layer = layer(layer_by_layer)
    upsampled, upsample = [], F.upsample_nearest2d
    monkeypatch.setattr(F, "upsample_nearest2d", lambda *args: upsampled.append(args) or upsample(*args))
    y = model(x)  # the first pair fused; the second (stride 2) is not
    assert y.shape == layer_by_layer.shape == (2, 2, 7, 7) and len(upsampled) == 1
    np.testing.assert_allclose(y.numpy(), layer_by_layer.numpy(), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------- bad inputs
def test_bad_inputs_name_the_shapes():
    x, w = minigrad.tensor(np.zeros((2, 3, 8, 8))), minigrad.tensor(np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"x of shape \(N, C, H, W\), got shape \(3, 8, 8\)"):
        F.conv2d(minigrad.tensor(np.zeros((3, 8, 8))), w)
    with pytest.raises(ValueError, match=r"weight of shape \(out, in, kh, kw\), got shape \(4, 3, 3\)"):
        F.conv2d(x, minigrad.tensor(np.zeros((4, 3, 3))))
    with pytest.raises(ValueError, match=r"x has 3 channels \(shape \(2, 3, 8, 8\)\) but weight of shape "
                                         r"\(4, 5, 3, 3\) \(out, in, kh, kw\) expects 5"):
        F.conv2d(x, minigrad.tensor(np.zeros((4, 5, 3, 3))))
    with pytest.raises(ValueError, match=r"x has 3 channels .* weight of shape \(4, 3, 3, 3\) "
                                         r"\(in, out, kh, kw\) expects 4"):
        F.conv_transpose2d(x, w)
    with pytest.raises(ValueError, match=r"bias of shape \(4,\) .* got shape \(3,\)"):
        F.conv2d(x, w, minigrad.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match="float32 but weight is float64"):
        F.conv2d(x, minigrad.tensor(np.zeros((4, 3, 3, 3)), dtype=np.float64))
    with pytest.raises(ValueError, match=r"kernel 9×9 is larger than the padded input 8×8"):
        F.conv2d(x, minigrad.tensor(np.zeros((4, 3, 9, 9))))
    with pytest.raises(ValueError, match="padding must be"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(minigrad.tensor(np.zeros((2, 4, 8, 8))), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"x of shape \(N, C, H, W\)"):
        F.upsample_nearest2d(minigrad.tensor(np.zeros((3, 8, 8))))
