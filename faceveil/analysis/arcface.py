"""IResNet-50 ArcFace backbone (insightface arcface_torch layout, ``backbone.pth`` of ms1mv3_arcface_r50).

Input: (B, 3, 112, 112) RGB in [-1, 1] (i.e. (pixel / 255 - 0.5) / 0.5), ArcFace-aligned.
Output: (B, 512) embedding (not normalised; compare with cosine similarity).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ARCFACE_INPUT_SIZE = 112
EMBEDDING_DIM = 512


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """Pre-activation block: BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, + shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch, eps=1e-5)
        self.conv1 = _conv3x3(in_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=1e-5)
        self.prelu = nn.PReLU(out_ch)
        self.conv2 = _conv3x3(out_ch, out_ch, stride)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=1e-5)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class IResNet(nn.Module):
    """IResNet with ``layers`` blocks per stage (widths 64/128/256/512, each stage halves resolution)."""

    def __init__(self, layers: Sequence[int] = (3, 4, 14, 3), embedding_dim: int = EMBEDDING_DIM, width: int = 64):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.conv1 = _conv3x3(3, width)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5)
        self.prelu = nn.PReLU(width)
        in_ch = width
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = [IBasicBlock(in_ch, w, stride=2)] + [IBasicBlock(w, w) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_ch = w
        self.bn2 = nn.BatchNorm2d(in_ch, eps=1e-5)
        self.fc = nn.Linear(in_ch * 7 * 7, embedding_dim)
        self.features = nn.BatchNorm1d(embedding_dim, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False  # fixed in the published training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, 112, 112) in [-1, 1] -> (B, 512)."""
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.bn2(x).flatten(1)
        return self.features(self.fc(x))


def iresnet50() -> IResNet:
    return IResNet((3, 4, 14, 3))


RESIZE_MODES = ("antialias", "nearest")


def embed_faces(model: IResNet, faces: torch.Tensor, resize: str = "antialias") -> torch.Tensor:
    """Embed face crops (B, 3, S, S) in [-1, 1] of any size S, resized to 112 px.

    resize: "antialias" (bilinear with antialiasing: a faithful downscale) or "nearest", what the
    iresnet vendored in G2Face does inside its forward (``F.interpolate(x, (112, 112))``, nearest
    neighbour, no antialiasing), which the published G2Face networks were trained with.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize {resize!r}; one of {RESIZE_MODES}")
    if faces.shape[-1] != ARCFACE_INPUT_SIZE or faces.shape[-2] != ARCFACE_INPUT_SIZE:
        size = (ARCFACE_INPUT_SIZE, ARCFACE_INPUT_SIZE)
        if resize == "nearest":
            faces = F.interpolate(faces, size)
        else:
            faces = F.interpolate(faces, size=size, mode="bilinear", align_corners=False, antialias=True)
    return model(faces)
