"""Convolution and upsampling layers (NCHW, PyTorch's weight layouts). The ops are
minigrad/ops/conv.py."""
from .. import functional as F
from . import init
from .layers import check_sizes, new_parameter, shape_error
from .module import Module


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class _ConvBase(Module):
    """What Conv2D and ConvTranspose2D share: settings, input check, repr."""

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, weight_shape, bias):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.weight = new_parameter(weight_shape)
        self.bias = new_parameter((out_channels,)) if bias else None
        init.default_init_(self.weight, self.bias)

    def _check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            advice = ""
            if x.ndim == 2:
                advice = "add Reshape((C, H, W)) before this layer to turn vectors into images"
            elif x.ndim == 4:
                advice = f"the input has {x.shape[1]} channels, this layer takes {self.in_channels}"
            raise shape_error(self, f"(N, {self.in_channels}, H, W)", x, advice)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}")
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            text += f", output_padding={self.output_padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2D(_ConvBase):
    """2-D convolution: x (N, in, H, W) -> (N, out, H', W'); weight (out, in, kh, kw).
    padding: an int, a pair, "valid" (none) or "same" (H' = ceil(H / stride))."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        check_sizes(self, ("kernel_size", "stride"), in_channels=in_channels,
                    out_channels=out_channels, kernel_size=kernel_size, stride=stride)
        kh, kw = _pair(kernel_size)
        self._setup(in_channels, out_channels, kernel_size, stride, padding,
                    (out_channels, in_channels, kh, kw), bias)

    def forward(self, x, weight=None):
        """weight: a tensor in place of self.weight (SpectralNorm passes its normalised one)."""
        self._check_input(x)
        return F.conv2d(x, self.weight if weight is None else weight, self.bias, self.stride,
                        self.padding)

    def forward_upsampled(self, x, scale):
        """self(upsample_nearest2d(x, scale)) for stride 1, without the upsampled image:
        what Sequential runs for UpSampling2D(scale) followed by this layer."""
        self._check_input(x)
        return F.upsample_conv2d(x, self.weight, self.bias, scale, self.padding)


class ConvTranspose2D(_ConvBase):
    """Transposed convolution (the adjoint of Conv2D), for upsampling in a generator:
    x (N, in, H, W) -> (N, out, H', W'), H' = (H − 1)·stride − 2·padding + kh + output_padding;
    weight (in, out, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True):
        super().__init__()
        check_sizes(self, ("kernel_size", "stride"), in_channels=in_channels,
                    out_channels=out_channels, kernel_size=kernel_size, stride=stride)
        kh, kw = _pair(kernel_size)
        self.output_padding = _pair(output_padding)
        self._setup(in_channels, out_channels, kernel_size, stride, padding,
                    (in_channels, out_channels, kh, kw), bias)

    def forward(self, x):
        self._check_input(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding)


class UpSampling2D(Module):
    """Nearest-neighbour upsampling of (N, C, H, W) to (N, C, scale·H, scale·W)."""

    def __init__(self, scale=2):
        super().__init__()
        check_sizes(self, scale=scale)
        self.scale = scale

    def forward(self, x):
        if x.ndim != 4:
            raise shape_error(self, "(N, C, H, W)", x)
        return F.upsample_nearest2d(x, self.scale)

    def fused_with(self, following):
        """A stride-1 Conv2D after the upsampling: both as one op on the small image
        (F.upsample_conv2d: the same function, fewer multiplications)."""
        if isinstance(following, Conv2D) and following.stride == (1, 1):
            return lambda x: following.forward_upsampled(x, self.scale)
        return None

    def extra_repr(self):
        return f"scale={self.scale}"
