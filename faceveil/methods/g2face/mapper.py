"""Identity/geometry -> W+ mapper (``style_mlp``) and the dummy-identity generator (``map_2_id``)."""

from __future__ import annotations

import torch
from torch import nn

from faceveil.methods.g2face.config import IDENTITY_DIM, MapperConfig
from faceveil.methods.g2face.stylegan2.ops import EqualLinear, PixelNorm


def _mlp(in_dim: int, config: MapperConfig) -> nn.Sequential:
    dims = [in_dim] + [config.style_dim] * config.n_mlp
    return nn.Sequential(*[EqualLinear(a, b, lr_mul=config.lr_mul, activation=True) for a, b in zip(dims[:-1], dims[1:])])


# How a checkpoint's style_mlp adds its biases (EqualLinear.bias_twice): "twice" as G2Face's own
# code, the published G2Face.pth and faceveil training since issue 10; "once" for checkpoints
# faceveil trained before (they carry a training "config" but no "style_mlp_bias" entry).
BIAS_TWICE, BIAS_ONCE = "twice", "once"
BIAS_CONVENTIONS = (BIAS_TWICE, BIAS_ONCE)


class StyleMapper(nn.Module):
    """``style_mlp``: identity (B, 512) + geometry (B, 147 = 80 id + 64 exp + 3 angles) -> W+ (B, 14, 512).

    PixelNorm on the concatenation, then three equalized-lr MLPs (lr_mul 0.01) for the coarse, middle
    and fine layers, each tiled over its W+ rows (6 / 6 / 2). Each layer adds its bias twice, as
    the official code (``bias_convention``).
    """

    def __init__(self, config: MapperConfig = MapperConfig(), bias_convention: str = BIAS_TWICE):
        super().__init__()
        self.config = config
        in_dim = config.identity_dim + config.geometry_dim
        self.norm = PixelNorm()
        self.style_low = _mlp(in_dim, config)
        self.style_middle = _mlp(in_dim, config)
        self.style_high = _mlp(in_dim, config)
        self.bias_convention = bias_convention  # sets every layer's EqualLinear.bias_twice

    @property
    def bias_convention(self) -> str:
        return BIAS_TWICE if self.style_low[0].bias_twice else BIAS_ONCE

    @bias_convention.setter
    def bias_convention(self, value: str) -> None:
        if value not in BIAS_CONVENTIONS:
            raise ValueError(f"unknown style_mlp bias convention {value!r}; one of {BIAS_CONVENTIONS}")
        for mlp in (self.style_low, self.style_middle, self.style_high):
            for layer in mlp:
                layer.bias_twice = value == BIAS_TWICE

    def forward(self, identity: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        x = self.norm(torch.cat([identity, geometry], dim=1))
        rows = []
        for mlp, n in zip((self.style_low, self.style_middle, self.style_high), self.config.split):
            rows.append(mlp(x).unsqueeze(1).expand(-1, n, -1))
        return torch.cat(rows, dim=1)


class DummyIdentityMapper(nn.Module):
    """``map_2_id``: Gaussian noise z (B, dim) -> a plausible dummy identity embedding (B, dim) (dim 512 published).

    Linear - LeakyReLU(0.2) - Linear - LeakyReLU(0.2) - BatchNorm1d; the BatchNorm's running
    statistics match the embedding distribution, so use eval mode at inference.
    """

    def __init__(self, dim: int = IDENTITY_DIM):
        super().__init__()
        self.dim = dim  # identity embedding size; z has the same size
        self.map_2_id = nn.Sequential(
            nn.Linear(dim, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim), nn.LeakyReLU(0.2), nn.BatchNorm1d(dim)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.map_2_id(z)
