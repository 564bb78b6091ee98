"""StyleGAN2 discriminator (rosinality layout, ``stylegan2_rosinality_256_d``), used for the
adversarial loss in training. image (B, 3, S, S) -> realness logit (B, 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from faceveil.methods.g2face.stylegan2.ops import DEFAULT_BLUR, Blur, EqualConv2d, EqualLinear, FusedLeakyReLU


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d (stride 2 when downsampling) -> [FusedLeakyReLU]."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, downsample: bool = False, bias: bool = True,
                 activate: bool = True, blur_taps: Sequence[int] = DEFAULT_BLUR):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_taps) - 2) + (kernel - 1)
            layers.append(Blur(blur_taps, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """(B, in, H, W) -> (B, out, H/2, W/2), residual with a 1x1 skip, divided by sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int, blur_taps: Sequence[int] = DEFAULT_BLUR):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_taps=blur_taps)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False, blur_taps=blur_taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    def __init__(self, size: int = 256, channel_multiplier: int = 2, channel_scale: float = 1.0, stddev_group: int = 4):
        super().__init__()

        def ch(res: int) -> int:
            base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
                    256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}[res]
            return max(1, int(round(base * channel_scale)))

        convs: list[nn.Module] = [ConvLayer(3, ch(size), 1)]
        in_ch = ch(size)
        for log_res in range(int(math.log2(size)), 2, -1):
            out_ch = ch(2 ** (log_res - 1))
            convs.append(ResBlock(in_ch, out_ch))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(in_ch + 1, ch(4), 3)
        self.final_linear = nn.Sequential(EqualLinear(ch(4) * 16, ch(4), activation=True), EqualLinear(ch(4), 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.convs(image)
        b, c, h, w = out.shape
        # minibatch standard deviation: one extra feature map telling D how varied the batch is
        group = min(b, self.stddev_group)
        if b % group:
            group = 1
        stddev = out.view(group, -1, 1, c, h, w)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        out = torch.cat([out, stddev.repeat(group, 1, h, w)], dim=1)
        out = self.final_conv(out)
        return self.final_linear(out.view(b, -1))
