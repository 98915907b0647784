"""Convolutions of NCHW images: Conv2D through im2col, ConvTranspose2D as its adjoint
through col2im, and nearest-neighbour UpSample2D.

Both convolutions are the same two matrix products read in opposite directions:

    gather  (Conv2D):           cols = im2col(x_pad)   y = cols @ W        cols: N·OH·OW × KH·KW·C
    scatter (ConvTranspose2D):  T = x @ Wᵀ             y = col2im(T)       T:    N·H·W × KH·KW·O

and each op's backward is the other route. For second derivatives (backward_graph) the same
holds with ops: Conv2D's input gradient is a ConvTranspose2D, ConvTranspose2D's is a
Conv2D, and both weight gradients are Conv2DWeightGrad, a third op whose own gradients
are again the two convolutions. Inside, images are channels-last (NHWC): a
window of an NHWC image is KH runs of KW·C contiguous floats, so im2col is one strided view
and one copy of long runs, and every matrix above is a contiguous GEMM operand. The ops
return NCHW-shaped transposed views of NHWC memory, which the next convolution reads back
without a copy; other ops see an ordinary strided array. Derivations: docs/layers.md.

At the end, the functions minigrad.functional exposes (conv2d, conv_transpose2d,
upsample_nearest2d): they check the arguments, compute the padding and choose the route.
"""
import functools

import numpy

from .. import backend, kernels
from ..blas import matmul
from ..backend import get_array_module
from ..tensor import Function, Tensor


# ------------------------------------------------------------------ im2col / col2im
def to_padded_nhwc(x, pads):
    """x (N, C, H, W) as a contiguous channels-last array (N, t+H+b, l+W+r, C) with zero
    borders: the layout change and the padding in one copy. A negative pad crops."""
    xp = get_array_module(x)
    top, bottom, left, right = pads
    n, c, h, w = x.shape
    x = x[:, :, max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    top, bottom, left, right = (max(p, 0) for p in pads)
    inner = x.transpose(0, 2, 3, 1)
    if top == bottom == left == right == 0:
        return xp.ascontiguousarray(inner)  # free when x already has NHWC memory
    _, h, w, _ = inner.shape
    padded = xp.zeros((n, top + h + bottom, left + w + right, c), dtype=x.dtype)
    padded[:, top:top + h, left:left + w, :] = inner
    return padded


def im2col(image, kernel, stride, out_hw):
    """Columns (N·OH·OW, KH·KW·C) of a contiguous channels-last image (N, Hp, Wp, C):
    row (n, oh, ow) is the window image[n, oh·sh : oh·sh+KH, ow·sw : ow·sw+KW, :] flattened
    in (KH, KW, C) order.

    A strided view shows every window without copying (windows overlap in memory); one
    copy turns it into the GEMM operand. In NHWC a window row (KW, C) has strides (C, 1),
    so it is a single run of KW·C floats and the copy moves long contiguous runs.
    """
    xp = get_array_module(image)
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, hp, wp, c = image.shape
    image = xp.ascontiguousarray(image)
    # strides from the shape, not image.strides: NumPy calls an array with a size-1 axis
    # contiguous whatever that axis's stride (x (N, 1, H, W) transposed to NHWC)
    step_w = c * image.itemsize
    step_h = wp * step_w
    windows = xp.lib.stride_tricks.as_strided(
        image, (n, oh, ow, kh, kw * c), (hp * step_h, step_h * sh, step_w * sw, step_h, image.itemsize))
    return xp.ascontiguousarray(windows).reshape(n * oh * ow, kh * kw * c)


def padded_im2col(x, pads, kernel, stride, out_hw):
    """im2col of x (N, C, H, W) padded by `pads` (negative: cropped): on the GPU one kernel
    (IM2COL) that reads x where it lies and writes zeros for the padding, rather than three
    launches (the zeros, the padded copy, the columns' copy)."""
    if not kernels.fused(x):
        return im2col(to_padded_nhwc(x, pads), kernel, stride, out_hw)
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, c, h, w = x.shape
    cols = xp.empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
    IM2COL(x, c, h, w, kh, kw, sh, sw, oh, ow, pads[0], pads[2], cols)
    return cols


IM2COL = kernels.Kernel(
    "raw T x, int32 c, int32 h, int32 w, int32 kh, int32 kw, int32 sh, int32 sw, int32 oh, "
    "int32 ow, int32 top, int32 left", "T cols",
    """// entry (row, col) of the columns: row = (b, oy, ox), col = (ki, kj, ch); it copies
    // pixel (oy·sh + ki − top, ox·sw + kj − left) of channel ch of image b, or 0 in the padding
    const ptrdiff_t width = (ptrdiff_t)kh * kw * c;
    const ptrdiff_t row = i / width;
    const int col = i % width;
    const int ch = col % c;
    const int kj = (col / c) % kw;
    const int ki = col / (c * kw);
    const int ox = row % ow;
    const int oy = (row / ow) % oh;
    const ptrdiff_t b = row / ((ptrdiff_t)ow * oh);
    const int py = oy * sh + ki - top;
    const int px = ox * sw + kj - left;
    cols = (py >= 0 && py < h && px >= 0 && px < w) ? x[((b * c + ch) * h + py) * w + px] : (T)0;""",
    "minigrad_im2col")


def col2im(cols, image_shape, kernel, stride, out_hw):
    """The adjoint of im2col: a channels-last image (N, Hp, Wp, C) in which every entry of
    `cols` is added back onto the pixel im2col copied it from (overlapping windows add up).
    One strided add per kernel tap (i, j), each moving a (N, OH, OW, C) block; on the GPU,
    one kernel (COL2IM) instead of KH·KW launches."""
    xp = get_array_module(cols)
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, hp, wp, c = image_shape
    if kernels.fused(cols):
        image = xp.empty(image_shape, dtype=cols.dtype)
        COL2IM(xp.ascontiguousarray(cols), hp, wp, c, kh, kw, sh, sw, oh, ow, image)
        return image
    taps = cols.reshape(n, oh, ow, kh, kw, c)
    image = xp.zeros(image_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            image[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += taps[:, :, :, i, j, :]
    return image


COL2IM = kernels.Kernel(
    "raw T cols, int32 hp, int32 wp, int32 c, int32 kh, int32 kw, int32 sh, int32 sw, "
    "int32 oh, int32 ow", "T image",
    """// col2im gathered: pixel (b, y, x, ch) of the image sums the entries of cols that
    // im2col copied from it, those of the taps (ki, kj) with y = oy·sh + ki, x = ox·sw + kj,
    // in the order the strided adds take them (bit for bit the same sums)
    const int ch = i % c;
    ptrdiff_t rest = i / c;
    const int x = rest % wp;
    rest /= wp;
    const int y = rest % hp;
    const ptrdiff_t b = rest / hp;
    T total = 0;
    for (int ki = y % sh; ki < kh && ki <= y; ki += sh) {
        const int oy = (y - ki) / sh;
        if (oy >= oh) continue;
        for (int kj = x % sw; kj < kw && kj <= x; kj += sw) {
            const int ox = (x - kj) / sw;
            if (ox >= ow) continue;
            total += cols[((b * oh + oy) * ow + ox) * ((ptrdiff_t)kh * kw * c) + (ki * kw + kj) * c + ch];
        }
    }
    image = total;""",
    "minigrad_col2im")


def col2im_of_product(rows, W, image_shape, kernel, stride, out_hw):
    """col2im(rows @ Wᵀ) for rows (N·OH·OW × K) and W (KH·KW·C × K), without holding the
    N·OH·OW × KH·KW·C product when it is large: tap (i, j) multiplies rows by its own C × K
    block of W and adds the (N·OH·OW × C) result straight into the image. With few channels
    those products would be matrix-vector products re-reading `rows` KH·KW times, so the
    whole product is formed once instead, as it is on the GPU: there one product and one
    col2im are two launches, against two per tap."""
    xp = get_array_module(rows)
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    n, _, _, c = image_shape
    if c < 16 or kernels.fused(rows):
        return col2im(matmul(rows, W.T), image_shape, kernel, stride, out_hw)
    taps = xp.ascontiguousarray(W.reshape(kh, kw, c, -1).transpose(0, 1, 3, 2))  # (KH, KW, K, C)
    image = xp.zeros(image_shape, dtype=rows.dtype)
    product = xp.empty((rows.shape[0], c), dtype=rows.dtype)  # one tap's block, reused
    for i in range(kh):
        for j in range(kw):
            matmul(rows, taps[i, j], out=product)
            image[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += product.reshape(n, oh, ow, c)
    return image


def weight_matrix(w):
    """A conv weight (O, C, KH, KW) as the (KH·KW·C, O) matrix that multiplies im2col's columns."""
    o, c, kh, kw = w.shape
    return get_array_module(w).ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(kh * kw * c, o)


def weight_from_matrix(g, shape):
    """A (KH·KW·C, O) matrix back as a conv weight of `shape` (O, C, KH, KW)."""
    o, c, kh, kw = shape
    return g.reshape(kh, kw, c, o).transpose(3, 2, 0, 1)


def rows_nhwc(x):
    """x (N, C, H, W) as the (N·H·W, C) matrix of its pixels (free if x has NHWC memory)."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(n * h * w, c)


def nchw_view(rows, n, h, w):
    """The (N·H·W, C) matrix of pixels as an NCHW-shaped view (no copy)."""
    return rows.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


# ------------------------------------------------------------------ ops
class Conv2D(Function):
    """y[n,o,p,q] = Σ_c,i,j w[o,c,i,j] · x_pad[n, c, p·sh+i, q·sw+j] + b[o]
    (cross-correlation, NCHW, weight (O, C, KH, KW) as PyTorch; x_pad is x zero-padded by
    `pads` = (top, bottom, left, right); `stride` = (sh, sw)).

    As matrices, with cols = im2col(x_pad) (N·OH·OW × KH·KW·C) and W = w as (KH·KW·C × O):
        y  = cols @ W + b
        gW = colsᵀ @ gy          gb = Σ_rows gy
        gx = col2im(gy @ Wᵀ), cropped to x        (gy as its N·OH·OW × O matrix)
    Keeps for backward: cols (rather than x: backward then needs no second im2col) and W;
    cols are dropped when neither w nor b needs a gradient.
    Extra memory: cols, N·OH·OW × C·KH·KW floats, held until backward; the padded input
    N·Hp·Wp·C in forward; in backward the padded gradient N·Hp·Wp·C and one tap's
    N·OH·OW × C block of gy @ Wᵀ (all of it, the size of cols, when C < 16).
    """

    def forward(self, x, w, b=None):
        n, c, h, width = x.shape
        o, _, kh, kw = w.shape
        top, bottom, left, right = self.pads
        (sh, sw) = self.stride
        self.kernel, self.image_shape = (kh, kw), (n, top + h + bottom, left + width + right, c)
        self.out_hw = ((h + top + bottom - kh) // sh + 1, (width + left + right - kw) // sw + 1)
        self.w_shape, self.W = w.shape, weight_matrix(w)
        cols = padded_im2col(x, self.pads, self.kernel, self.stride, self.out_hw)
        y = matmul(cols, self.W)
        if b is not None:
            y += b
        self.cols = cols if any(self.needs_input_grad[1:]) else None
        return nchw_view(y, n, *self.out_hw)

    def backward(self, gy):
        gy_rows = rows_nhwc(gy)
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            top, bottom, left, right = self.pads
            g_image = col2im_of_product(gy_rows, self.W, self.image_shape, self.kernel, self.stride, self.out_hw)
            g_image = g_image[:, top:self.image_shape[1] - bottom, left:self.image_shape[2] - right, :]
            gx = g_image.transpose(0, 3, 1, 2)
        if self.needs_input_grad[1]:
            gw = weight_from_matrix(matmul(self.cols.T, gy_rows), self.w_shape)
        if len(self.needs_input_grad) == 3 and self.needs_input_grad[2]:
            gb = gy_rows.sum(axis=0)
        return (gx, gw, gb)[:len(self.needs_input_grad)]

    def backward_graph(self, gy, x, w, *b, y):
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            crops = input_gradient_crops(x.shape, gy.shape, self.kernel, self.stride, self.pads)
            gx = ConvTranspose2D.apply(gy, w, stride=self.stride, crops=crops)
        if self.needs_input_grad[1]:
            gw = Conv2DWeightGrad.apply(x, gy, pads=self.pads, stride=self.stride, kernel=self.kernel)
        if b and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb)[:len(self.needs_input_grad)]


class ConvTranspose2D(Function):
    """The adjoint of Conv2D with the same weight: y = conv2d's input gradient, taken at x.
    x (N, Cin, H, W), weight (Cin, Cout, KH, KW) as PyTorch, so w is the weight of a
    conv2d mapping Cout channels to Cin; W = w as (KH·KW·Cout × Cin) is that conv's matrix.

        y  = crop(col2im(x @ Wᵀ)) + b            (x as its N·H·W × Cin matrix)
        gx = cols @ W,   gW = colsᵀ @ x,   gb = Σ gy,   with cols = im2col(uncrop(gy))
    i.e. the backward w.r.t. x is conv2d's forward of gy, the one w.r.t. w is conv2d's
    weight gradient with the roles of input and output swapped.
    col2im builds the full image of (H-1)·sh + KH rows; `crops` = (top, bottom, left, right)
    are cut from it (a negative bottom/right appends zero rows: PyTorch's output_padding).
    Keeps for backward: x as rows (only if w needs a gradient; a copy if x had NCHW memory)
    and W.
    Extra memory: the full output image N·Hf·Wf·Cout and one tap's N·H·W × Cout block of
    x @ Wᵀ in forward (all of it, N·H·W × Cout·KH·KW floats, when Cout < 16); in backward
    the padded gradient and cols = im2col(gy), N·H·W × Cout·KH·KW floats.
    """

    def forward(self, x, w, b=None):
        n, _, h, width = x.shape
        _, c_out, kh, kw = w.shape
        top, bottom, left, right = self.crops
        (sh, sw) = self.stride
        full_hw = ((h - 1) * sh + kh, (width - 1) * sw + kw)
        self.kernel, self.in_hw, self.w_shape, self.W = (kh, kw), (h, width), w.shape, weight_matrix(w)
        x_rows = rows_nhwc(x)
        # rows/cols beyond the full image that a negative crop asks for stay zero
        image_shape = (n, full_hw[0] + max(-bottom, 0), full_hw[1] + max(-right, 0), c_out)
        image = col2im_of_product(x_rows, self.W, image_shape, self.kernel, self.stride, self.in_hw)
        y = image[:, top:full_hw[0] - bottom, left:full_hw[1] - right, :]
        if b is not None:
            y += b
        self.x_rows = x_rows if self.needs_input_grad[1] else None
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        gx = gw = gb = None
        if self.needs_input_grad[0] or self.needs_input_grad[1]:
            cols = padded_im2col(gy, self.crops, self.kernel, self.stride, self.in_hw)
            if self.needs_input_grad[0]:
                gx = nchw_view(matmul(cols, self.W), gy.shape[0], *self.in_hw)
            if self.needs_input_grad[1]:
                gw = weight_from_matrix(matmul(cols.T, self.x_rows), self.w_shape)
        if len(self.needs_input_grad) == 3 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb)[:len(self.needs_input_grad)]

    def backward_graph(self, gy, x, w, *b, y):
        # The rows and columns a negative crop appended are zeros, whatever x and w: cut
        # their gradient, and the rest is a convolution with padding = the crops.
        top, bottom, left, right = self.crops
        if bottom < 0 or right < 0:
            gy = gy[:, :, :gy.shape[2] + min(bottom, 0), :gy.shape[3] + min(right, 0)]
        pads = (top, max(bottom, 0), left, max(right, 0))
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = Conv2D.apply(gy, w, pads=pads, stride=self.stride)
        if self.needs_input_grad[1]:
            gw = Conv2DWeightGrad.apply(gy, x, pads=pads, stride=self.stride, kernel=self.kernel)
        if b and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb)[:len(self.needs_input_grad)]


class Conv2DWeightGrad(Function):
    """Conv2D's weight gradient as an op of its two inputs, for second derivatives:
        y[o,c,i,j] = Σ_n,p,q g[n,o,p,q] · x_pad[n, c, p·sh+i, q·sw+j]
    for x (N, C, H, W) and g (N, O, OH, OW) (the upstream gradient of a Conv2D with these
    `pads`, `stride` and `kernel`); y has the weight's shape (O, C, KH, KW). As matrices,
    y = colsᵀ @ g with cols = im2col(x_pad), as in Conv2D.backward.
    y is bilinear in x and g, and each gradient is a convolution with gy as the weight:
        gx = Conv2D's input gradient of g with weight gy = conv_transpose2d(g, gy)
        gg = Conv2D's forward of x with weight gy        = conv2d(x, gy)
    Keeps x and g (the inputs themselves, no copy) for backward.
    """

    def forward(self, x, g):
        _, c, _, _ = x.shape
        _, o, oh, ow = g.shape
        self.x, self.g = x, g
        cols = padded_im2col(x, self.pads, self.kernel, self.stride, (oh, ow))
        return weight_from_matrix(matmul(cols.T, rows_nhwc(g)), (o, c) + tuple(self.kernel))

    def backward(self, gy):
        gx = gg = None
        if self.needs_input_grad[0]:
            crops = input_gradient_crops(self.x.shape, self.g.shape, self.kernel, self.stride, self.pads)
            gx = run_forward(ConvTranspose2D, self.g, gy, stride=self.stride, crops=crops)
        if self.needs_input_grad[1]:
            gg = run_forward(Conv2D, self.x, gy, pads=self.pads, stride=self.stride)
        return gx, gg

    def backward_graph(self, gy, x, g, y):
        gx = gg = None
        if self.needs_input_grad[0]:
            crops = input_gradient_crops(x.shape, g.shape, self.kernel, self.stride, self.pads)
            gx = ConvTranspose2D.apply(g, gy, stride=self.stride, crops=crops)
        if self.needs_input_grad[1]:
            gg = Conv2D.apply(x, gy, pads=self.pads, stride=self.stride)
        return gx, gg


def input_gradient_crops(x_shape, gy_shape, kernel, stride, pads):
    """The crops of the ConvTranspose2D that computes a Conv2D's input gradient: the full
    image of (OH − 1)·sh + KH rows, less the top padding, cut (or extended with zero rows,
    for the rows a stride left unread) to x's height; the same for the columns."""
    top, _, left, _ = pads
    full_h = (gy_shape[2] - 1) * stride[0] + kernel[0]
    full_w = (gy_shape[3] - 1) * stride[1] + kernel[1]
    return (top, full_h - top - x_shape[2], left, full_w - left - x_shape[3])


def run_forward(op_class, *arrays, **params):
    """An op's forward on raw arrays, keeping nothing for a backward (one-off use)."""
    op = op_class(**params)
    op.needs_input_grad = (False,) * len(arrays)
    return op.forward(*arrays)


class UpSample2D(Function):
    """y[n, c, p, q] = x[n, c, p // s, q // s]  (nearest neighbour, each pixel repeated s×s, as
    Keras UpSampling2D);   gx[n, c, i, j] = Σ of gy over the s×s block that copied x[n, c, i, j].
    Keeps nothing. Extra memory: none beyond y."""

    def forward(self, x):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        s = self.scale
        return xp.broadcast_to(x[:, :, :, None, :, None], (n, c, h, s, w, s)).reshape(n, c, h * s, w * s)

    def backward(self, gy):
        # s² strided adds, not gy.reshape(N, C, H, s, W, s).sum(axis=(3, 5)): NumPy reduces
        # two short interleaved axes slowly (35 ms against 1.6 ms at (64, 128, 14, 14))
        xp, s = get_array_module(gy), self.scale
        gx = xp.copy(gy[:, :, ::s, ::s])  # order "K": keeps gy's memory layout
        for i in range(s):
            for j in range(s):
                if i or j:
                    gx += gy[:, :, i::s, j::s]
        return gx

    def backward_graph(self, gy, x, y):
        n, c, h, w = x.shape
        s = self.scale
        return gy.reshape(n, c, h, s, w, s).sum(axis=(3, 5))


# ------------------------------------------------------------------ the functions F exposes
# Argument checks, padding, and the choice between the two routes of a stride-1 convolution.
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, KH, KW), plus bias (O,), as
    PyTorch's conv2d. stride: int or (sh, sw). padding: int, (ph, pw), explicit
    (top, bottom, left, right), "valid" (none) or "same" (Keras: out = ceil(in / stride),
    the odd pixel of padding going to the bottom/right)."""
    check_conv_inputs("conv2d", x, weight, bias, "(out, in, kh, kw)", in_axis=1, out_axis=0)
    stride = as_pair(stride, "conv2d", "stride", minimum=1)
    (kh, kw), (h, w) = weight.shape[2:], x.shape[2:]
    pads = conv_padding(padding, (h, w), (kh, kw), stride)
    top, bottom, left, right = pads
    if h + top + bottom < kh or w + left + right < kw:
        raise ValueError(f"conv2d: kernel {kh}×{kw} is larger than the padded input "
                         f"{h + top + bottom}×{w + left + right} (x {x.shape}, padding {pads})")
    out_pixels = ((h + top + bottom - kh) // stride[0] + 1) * ((w + left + right - kw) // stride[1] + 1)
    if (stride == (1, 1) and max(pads) < min(kh, kw)
            and h * w * weight.shape[0] < out_pixels * x.shape[1]):
        # With stride 1 a convolution is the transposed convolution of its flipped kernel
        # (docs/layers.md): the same products, but a temporary of N·H·W × O·KH·KW floats
        # instead of N·OH·OW × C·KH·KW. Worth it when O < C (64→1 at 28×28: 5 MB vs 320 MB).
        flipped = weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        crops = (kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right)
        return apply_conv(ConvTranspose2D, x, flipped, bias, stride=stride, crops=crops)
    return apply_conv(Conv2D, x, weight, bias, stride=stride, pads=pads)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The transposed convolution (adjoint of conv2d) of x (N, Cin, H, W) with weight
    (Cin, Cout, KH, KW), plus bias (Cout,), as PyTorch's conv_transpose2d: output size
    (H - 1)·stride - 2·padding + KH + output_padding. stride, padding, output_padding:
    int or pair; output_padding < stride."""
    check_conv_inputs("conv_transpose2d", x, weight, bias, "(in, out, kh, kw)", in_axis=0, out_axis=1)
    stride = as_pair(stride, "conv_transpose2d", "stride", minimum=1)
    ph, pw = as_pair(padding, "conv_transpose2d", "padding", minimum=0)
    oph, opw = as_pair(output_padding, "conv_transpose2d", "output_padding", minimum=0)
    if oph >= stride[0] or opw >= stride[1]:
        raise ValueError(f"conv_transpose2d: output_padding {(oph, opw)} must be smaller than "
                         f"stride {stride} in each dimension")
    (kh, kw), (h, w) = weight.shape[2:], x.shape[2:]
    out_h = (h - 1) * stride[0] - 2 * ph + kh + oph
    out_w = (w - 1) * stride[1] - 2 * pw + kw + opw
    if out_h < 1 or out_w < 1:
        raise ValueError(f"conv_transpose2d: padding {(ph, pw)} leaves no output for x {x.shape} "
                         f"and kernel {kh}×{kw} (output {out_h}×{out_w})")
    if stride == (1, 1) and max(ph, pw) < min(kh, kw) and out_h * out_w * x.shape[1] < h * w * weight.shape[1]:
        # The mirror of conv2d's choice: with stride 1 this is conv2d with the flipped
        # kernel, whose temporary is smaller when Cin < Cout.
        flipped = weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        pads = (kh - 1 - ph, kh - 1 - ph, kw - 1 - pw, kw - 1 - pw)
        return apply_conv(Conv2D, x, flipped, bias, stride=stride, pads=pads)
    crops = (ph, ph - oph, pw, pw - opw)
    return apply_conv(ConvTranspose2D, x, weight, bias, stride=stride, crops=crops)


def upsample_nearest2d(x, scale=2):
    """Repeat every pixel of x (N, C, H, W) scale×scale times: (N, C, scale·H, scale·W)."""
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d: expected x of shape (N, C, H, W), got shape {x.shape}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"upsample_nearest2d: scale must be a positive int, got {scale!r}")
    return UpSample2D.apply(x, scale=scale)


def upsample_conv2d(x, weight, bias=None, scale=2, padding="same"):
    """conv2d(upsample_nearest2d(x, scale), weight, bias, padding=padding) at stride 1, computed
    on the small image. In the upsampled image every s×s block repeats one pixel, so output
    pixel (s·m + a, s·k + b) (phase (a, b)) reads each small pixel through the sum of the
    kernel taps that land on its block: a convolution of x with a smaller kernel per phase.
    All s² phases are one conv2d with s²·O output channels, whose outputs interleave into the
    large image (a pixel shuffle). For a 5×5 kernel and s = 2: four 3×3 kernels on a quarter of
    the pixels, 2.8 times fewer multiplications, and no upsampled image in memory. Built from
    differentiable ops, so its backward (to any order) is theirs. A padding that does not keep
    the size (up to s·H) falls back to the two ops."""
    check_conv_inputs("upsample_conv2d", x, weight, bias, "(out, in, kh, kw)", in_axis=1, out_axis=0)
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"upsample_conv2d: scale must be a positive int, got {scale!r}")
    (kh, kw), (h, w) = weight.shape[2:], x.shape[2:]
    pads = conv_padding(padding, (scale * h, scale * w), (kh, kw), (1, 1))
    if pads[0] + pads[1] != kh - 1 or pads[2] + pads[3] != kw - 1:
        return conv2d(upsample_nearest2d(x, scale), weight, bias, padding=pads)
    rows, (top, bottom) = phase_taps(kh, pads[0], scale)    # (s, KEh, KH)
    cols, (left, right) = phase_taps(kw, pads[2], scale)    # (s, KEw, KW)
    ke_h, ke_w, (o, c) = rows.shape[1], cols.shape[1], weight.shape[:2]
    combine = Tensor._wrap(phase_combination(kh, kw, pads[0], pads[2], scale, weight.dtype,
                                             backend.backend_of(weight.data)))
    phase_weights = ((weight.reshape((o * c, kh * kw)) @ combine)                # (O·C, s·s·KEh·KEw)
                     .reshape((o, c, scale, scale, ke_h, ke_w)).transpose((2, 3, 0, 1, 4, 5))
                     .reshape((scale * scale * o, c, ke_h, ke_w)))
    phase_bias = None if bias is None else bias.broadcast_to((scale * scale, o)).reshape((-1,))
    y = conv2d(x, phase_weights, phase_bias, padding=(top, bottom, left, right))  # (N, s·s·O, H, W)
    n = x.shape[0]
    return (y.reshape((n, scale, scale, o, h, w)).transpose((0, 3, 4, 1, 5, 2))      # (N, O, H, a, W, b)
            .reshape((n, o, scale * h, scale * w)))


@functools.lru_cache(maxsize=None)
def phase_combination(kh, kw, top, left, scale, dtype, backend_name):
    """(KH·KW, s·s·KEh·KEw): which taps of a kh×kw kernel each phase's smaller kernel sums,
    on the weight's backend. A constant of the layer's shape, made on the host and copied to
    the device once, here, not at every call: a captured step may not copy from the host."""
    rows, cols = phase_taps(kh, top, scale)[0], phase_taps(kw, left, scale)[0]
    # taps of phase (a, b) at (i, j) of its kernel: Σ rows[a, i, k]·cols[b, j, l]·w[.., k, l]
    combine = numpy.einsum("aik,bjl->klabij", rows, cols).reshape(kh * kw, -1)
    return backend.backend_module(backend_name).asarray(combine, dtype=dtype)


def phase_taps(k, pad, scale):
    """Which taps of a length-k kernel (padding `pad` before) each phase a of an s-times
    upsampled axis sends to which small pixel: P (s, KE, k) with P[a, d − d_min, t] = 1 when
    tap t of output s·m + a reads small pixel m + d, d = ⌊(a − pad + t)/s⌋; and the small
    axis's padding (−d_min, d_max)."""
    offsets = (numpy.arange(scale)[:, None] - pad + numpy.arange(k)[None, :]) // scale   # (s, k)
    low, high = int(offsets.min()), int(offsets.max())
    taps = numpy.zeros((scale, high - low + 1, k), dtype=numpy.float64)
    for a in range(scale):
        taps[a, offsets[a] - low, numpy.arange(k)] = 1.0
    return taps, (-low, high)


def apply_conv(op, x, weight, bias, **params):
    """op applied to x and weight, and to bias unless it is None (then not an input)."""
    return op.apply(x, weight, **params) if bias is None else op.apply(x, weight, bias, **params)


def check_conv_inputs(name, x, weight, bias, weight_layout, in_axis, out_axis):
    """Shapes and dtypes of a convolution's inputs, each mismatch named with both shapes."""
    if x.ndim != 4:
        raise ValueError(f"{name}: expected x of shape (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{name}: expected weight of shape {weight_layout}, got shape {weight.shape}")
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(f"{name}: x has {x.shape[1]} channels (shape {x.shape}) but weight of "
                         f"shape {weight.shape} {weight_layout} expects {weight.shape[in_axis]}")
    if bias is not None and bias.shape != (weight.shape[out_axis],):
        raise ValueError(f"{name}: expected bias of shape ({weight.shape[out_axis]},) for weight "
                         f"of shape {weight.shape}, got shape {bias.shape}")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{name}: x is {x.dtype} but weight is {weight.dtype}"
                        + ("" if bias is None else f" and bias {bias.dtype}")
                        + "; convert them to one dtype with .to(dtype=...)")


def as_pair(value, name, what, minimum):
    """An int or a pair of ints >= minimum, as a pair; a ValueError naming `what` otherwise."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ValueError(f"{name}: {what} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return values


def conv_padding(padding, in_hw, kernel, stride):
    """conv2d's padding as (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":  # Keras: out = ceil(in / s); the extra pixel goes bottom/right
        pads = []
        for n, k, s in zip(in_hw, kernel, stride):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be an int, a pair, (top, bottom, left, right), "
                         f"'valid' or 'same', got {padding!r}")
    if not isinstance(padding, int) and len(padding) == 4:
        pads = tuple(padding)
    else:
        ph, pw = as_pair(padding, "conv2d", "padding", minimum=0)
        pads = (ph, ph, pw, pw)
    if not all(isinstance(p, int) and p >= 0 for p in pads):
        raise ValueError(f"conv2d: padding must be non-negative ints, got {padding!r}")
    return pads
