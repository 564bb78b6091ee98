"""The face encoder ``pyramid``: 7 levels (256 -> 4 px at the published size) whose features the
IFF fusion blends into the synthesis network at the same resolution."""

from __future__ import annotations

import math

import torch
from torch import nn

from faceveil.methods.g2face.config import GeneratorConfig


class PyramidConv(nn.Module):
    """Conv (3x3 stride 1, or 4x4 stride 2 when ``downsample``) -> InstanceNorm -> LeakyReLU(0.2) optional.

    Parameters: ``conv.weight`` (out, in, k, k), ``conv.bias`` (out,). Instance norm has no affine.
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, activate: bool = True):
        super().__init__()
        kernel, stride = (4, 2) if downsample else (3, 1)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=1)
        self.norm = nn.InstanceNorm2d(out_channels)
        self.activate = nn.LeakyReLU(0.2) if activate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.norm(self.conv(x)))


class PyramidBlock(nn.Module):
    """Residual block: (conv1 3x3 -> conv2 [down]) + skip [down], divided by sqrt(2) to keep variance.

    x: (B, in, H, W) -> (B, out, H/2, W/2) when ``downsample`` else (B, out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool = True):
        super().__init__()
        self.conv1 = PyramidConv(in_channels, in_channels, downsample=False)
        self.conv2 = PyramidConv(in_channels, out_channels, downsample=downsample)
        self.skip = PyramidConv(in_channels, out_channels, downsample=downsample, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def build_pyramid(config: GeneratorConfig) -> nn.ModuleList:
    """Level 0 keeps full resolution (3 -> channels(size)); level i halves it, down to 4 px."""
    levels = nn.ModuleList([PyramidBlock(3, config.channels(config.size), downsample=False)])
    in_channels = config.channels(config.size)
    for log_res in range(config.log_size - 1, 1, -1):
        out_channels = config.channels(2**log_res)
        levels.append(PyramidBlock(in_channels, out_channels))
        in_channels = out_channels
    return levels


def encode_pyramid(levels: nn.ModuleList, image: torch.Tensor) -> list[torch.Tensor]:
    """image (B, 3, S, S) in [-1, 1] -> features, finest first: [(B, C_S, S, S), ..., (B, C_4, 4, 4)]."""
    features = []
    x = image
    for level in levels:
        x = level(x)
        features.append(x)
    return features
