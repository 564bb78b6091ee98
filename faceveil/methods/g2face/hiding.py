"""Hiding the message in the generator (``hiding_injects``) and reading it back (``hiding_extractor``).

The message is ``n_bits`` values in {0, 1} (16384 at 256 px), as (B, n_bits) float. The extractor
returns one logit per bit, laid out in the same order.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from faceveil.methods.g2face.config import ExtractorConfig
from faceveil.methods.g2face.stylegan2.ops import FusedLeakyReLU


class HidingInjection(nn.Module):
    """Message (B, n_bits) -> features (B, C, s, s) at resolution s.

    The bits are reshaped to ceil(n_bits / s^2) channels of s x s (raster order), mixed by a 1x1
    conv, activated by a fused leaky ReLU and scaled per channel by ``weight`` (C, 1, 1),
    zero-initialised so a pretrained StyleGAN starts unperturbed.
    """

    def __init__(self, size: int, out_channels: int, n_bits: int):
        super().__init__()
        if n_bits % (size * size):
            raise ValueError(f"{n_bits} bits do not tile {size}x{size}")
        self.size = size
        self.in_channels = math.ceil(n_bits / size**2)
        self.conv = nn.Conv2d(self.in_channels, out_channels, 1)
        self.weight = nn.Parameter(torch.zeros(out_channels, 1, 1))
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        x = bits.reshape(bits.shape[0], self.in_channels, self.size, self.size)
        return self.weight * self.activate(self.conv(x))


class ExtractorBlock(nn.Module):
    """Two branches (1x1-BN-LReLU-3x3-BN-LReLU and 1x1-BN-LReLU) concatenated: (B, 2h, H, W) -> same."""

    def __init__(self, width: int = 128):
        super().__init__()
        half = width // 2
        self.conv1x1_branch_1 = nn.Conv2d(width, half, 1)
        self.bn_branch_1_1 = nn.BatchNorm2d(half)
        self.conv3x3_branch_1 = nn.Conv2d(half, half, 3, padding=1)
        self.bn_branch_1_2 = nn.BatchNorm2d(half)
        self.conv1x1_branch_2 = nn.Conv2d(width, half, 1)
        self.bn_branch_2_1 = nn.BatchNorm2d(half)
        self.activate = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.activate(self.bn_branch_1_1(self.conv1x1_branch_1(x)))
        a = self.activate(self.bn_branch_1_2(self.conv3x3_branch_1(a)))
        b = self.activate(self.bn_branch_2_1(self.conv1x1_branch_2(x)))
        return torch.cat([a, b], dim=1)


class HidingExtractor(nn.Module):
    """Image (B, 3, S, S) in [-1, 1] -> bit logits (B, (S/2)^2) (16384 at 256 px), raster order of
    the final stride-2 3x3 conv's single-channel (S/2, S/2) map."""

    def __init__(self, config: ExtractorConfig = ExtractorConfig()):
        super().__init__()
        self.body = nn.Sequential(*[ExtractorBlock(config.width) for _ in range(config.n_blocks)])
        self.conv1x1_input = nn.Conv2d(3, config.width, 1)
        self.conv1x1_output = nn.Conv2d(config.width, 1, 3, stride=2, padding=1)
        self.activate = nn.LeakyReLU(0.1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.body(self.activate(self.conv1x1_input(image)))
        return self.conv1x1_output(x).flatten(1)
