"""Identity/geometry -> W+ mapper (``style_mlp``) and the dummy-identity generator (``map_2_id``)."""

from __future__ import annotations

import torch
from torch import nn

from faceveil.methods.g2face.config import IDENTITY_DIM, MapperConfig
from faceveil.methods.g2face.stylegan2.ops import EqualLinear, PixelNorm


def _mlp(in_dim: int, config: MapperConfig) -> nn.Sequential:
    layers = [EqualLinear(in_dim, config.style_dim, lr_mul=config.lr_mul, activation=True)]
    layers += [EqualLinear(config.style_dim, config.style_dim, lr_mul=config.lr_mul, activation=True) for _ in range(config.n_mlp - 1)]
    return nn.Sequential(*layers)


class StyleMapper(nn.Module):
    """``style_mlp``: identity (B, 512) + geometry (B, 147 = 80 id + 64 exp + 3 angles) -> W+ (B, 14, 512).

    PixelNorm on the concatenation, then three equalized-lr MLPs (lr_mul 0.01) for the coarse, middle
    and fine layers, each tiled over its W+ rows (6 / 6 / 2).
    """

    def __init__(self, config: MapperConfig = MapperConfig()):
        super().__init__()
        self.config = config
        in_dim = config.identity_dim + config.geometry_dim
        self.norm = PixelNorm()
        self.style_low = _mlp(in_dim, config)
        self.style_middle = _mlp(in_dim, config)
        self.style_high = _mlp(in_dim, config)

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
