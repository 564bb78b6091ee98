"""StyleGAN2 operations in pure PyTorch, parameter names compatible with rosinality/stylegan2-pytorch.

Everything runs on CPU and GPU without compiling anything. Each op is tested against a direct
formula in tests/methods/g2face/test_ops.py.

Shapes: feature maps are ``(B, C, H, W)``; styles ``(B, style_dim)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps activations' second moment after leaky ReLU (He gain)
DEFAULT_BLUR = (1, 3, 3, 1)


# ---------------------------------------------------------------------------------------------
# Functional ops
# ---------------------------------------------------------------------------------------------


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Separable 1-D taps ``(k,)`` -> normalised 2-D FIR kernel ``(k, k)`` summing to 1."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def _pads(pad: Sequence[int]) -> tuple[int, int, int, int]:
    """(p0, p1) for both axes, or (x0, x1, y0, y1)."""
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise ValueError(f"pad must have 2 or 4 entries, got {len(pad)}")


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter (true convolution), downsample.

    x: (B, C, H, W); kernel: (kh, kw). Negative pads crop. Output
    (B, C, (H*up + y0 + y1 - kh) // down + 1, (W*up + x0 + x1 - kw) // down + 1).
    """
    x0, x1, y0, y1 = _pads(pad)
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    out = x
    if up > 1:
        # zero insertion: every sample followed by up-1 zeros in each axis
        out = F.pad(out.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(b, c, h * up, w * up)
    out = F.pad(out, (max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)))
    out = out[
        :, :, max(-y0, 0) : out.shape[2] - max(-y1, 0), max(-x0, 0) : out.shape[3] - max(-x1, 0)
    ]
    # depthwise (grouped) conv is far faster than folding channels into the batch, esp. backward;
    # conv2d is a correlation, so flip the kernel to get a true convolution; stride = decimation
    weight = torch.flip(kernel, (0, 1)).to(out.dtype).view(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(out, weight, stride=down, groups=c)


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = LRELU_SLOPE, scale: float = LRELU_GAIN
) -> torch.Tensor:
    """``scale * leaky_relu(x + bias)``; bias ``(C,)`` broadcast over dim 1 of x ``(B, C, ...)``."""
    if bias is not None:
        shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
        x = x + bias.view(shape).to(x.dtype)
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Learned bias + leaky ReLU (0.2) + gain sqrt(2). Parameter: ``bias`` (C,)."""

    def __init__(self, channels: int, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    """Normalise each sample's feature vector to unit RMS over dim 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


# ---------------------------------------------------------------------------------------------
# Resampling
# ---------------------------------------------------------------------------------------------


class Upsample(nn.Module):
    """2x FIR upsampling. Buffer ``kernel`` (k, k) scaled by factor^2 to keep DC gain 1."""

    def __init__(self, taps: Sequence[float] = DEFAULT_BLUR, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 2H, 2W)."""
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Blur(nn.Module):
    """FIR low-pass with explicit padding. Buffer ``kernel`` (k, k)."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        kernel = make_kernel(taps)
        if upsample_factor > 1:
            kernel = kernel * upsample_factor**2
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


# ---------------------------------------------------------------------------------------------
# Equalized learning rate layers
# ---------------------------------------------------------------------------------------------


class EqualConv2d(nn.Module):
    """Conv with weights ~N(0,1) scaled at runtime by 1/sqrt(fan_in) (equalized learning rate).

    Parameters: ``weight`` (out, in, k, k), ``bias`` (out,) optional.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate and a learning-rate multiplier.

    Weights are stored divided by ``lr_mul`` and rescaled at runtime, so Adam's effective step on the
    used weight is ``lr * lr_mul`` (the mapping-network trick, lr_mul = 0.01).
    Parameters: ``weight`` (out, in), ``bias`` (out,). x: (B, in) -> (B, out).

    ``bias_twice`` (with ``activation``): G2Face's own EqualLinear passes ``bias * lr_mul`` both to
    ``F.linear`` and to the fused leaky ReLU, so its ``style_mlp`` was trained with the bias added
    twice; rosinality's (StyleGAN2 mapping, discriminator) adds it once.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False, bias_twice: bool = False):
        super().__init__()
        self.bias_twice = bias_twice
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            # same operations as the official code, so the result matches it to float rounding
            return fused_leaky_relu(F.linear(x, self.weight * self.scale, bias=bias if self.bias_twice else None), bias)
        return F.linear(x, self.weight * self.scale, bias=bias)


# ---------------------------------------------------------------------------------------------
# Style-modulated layers
# ---------------------------------------------------------------------------------------------


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled per sample by an affine map of the style, then
    (optionally) demodulated so each output channel has unit expected variance.

    Parameters: ``weight`` (1, out, in, k, k), ``modulation`` EqualLinear(style_dim -> in, bias 1),
    ``blur`` (when upsampling). x: (B, in, H, W), style: (B, style_dim) -> (B, out, H', W'),
    H' = 2H when ``upsample`` else H.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_taps: Sequence[float] = DEFAULT_BLUR,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            factor = 2
            p = (len(blur_taps) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def per_sample_weight(self, style: torch.Tensor) -> torch.Tensor:
        """style (B, style_dim) -> modulated (and demodulated) weights (B, out, in, k, k)."""
        s = self.modulation(style).view(-1, 1, self.in_channels, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8)
            weight = weight * demod.view(-1, self.out_channels, 1, 1, 1)
        return weight

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.kernel_size
        weight = self.per_sample_weight(style).to(x.dtype)
        # one grouped conv with the batch folded into channels applies a different kernel per sample
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channels, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            out = out.view(b, self.out_channels, out.shape[2], out.shape[3])
            return self.blur(out)
        out = F.conv2d(x, weight.view(b * self.out_channels, c, k, k), padding=self.padding, groups=b)
        return out.view(b, self.out_channels, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned scalar ``weight`` (1,). noise: (B or 1, 1, H, W);
    None draws fresh N(0, 1) noise (non-deterministic: pass a tensor for reproducible output)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + self.weight * noise.to(x.dtype)


class ConstantInput(nn.Module):
    """Learned constant ``input`` (1, C, size, size), repeated to the batch size of ``like``."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(like.shape[0], 1, 1, 1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> NoiseInjection -> FusedLeakyReLU (submodules ``conv``, ``noise``, ``activate``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, upsample: bool = False, blur_taps: Sequence[float] = DEFAULT_BLUR):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, upsample=upsample, blur_taps=blur_taps)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB + ``bias`` (1, 3, 1, 1), plus the upsampled RGB
    skip from the previous resolution. x: (B, C, H, W), skip: (B, 3, H/2, W/2) -> (B, 3, H, W)."""

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True, blur_taps: Sequence[float] = DEFAULT_BLUR):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_taps)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out
