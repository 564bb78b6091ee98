"""Reduced-width G2Face engines for fast functional tests (same architecture, fewer channels)."""

from __future__ import annotations

import torch
from torch import nn

from faceveil.analysis.arcface import IResNet
from faceveil.methods.g2face.checkpoint import G2FaceNetworks
from faceveil.methods.g2face.config import ExtractorConfig, GeneratorConfig
from faceveil.methods.g2face.engine import G2FaceEngine
from faceveil.methods.g2face.priors import ArcFaceIdentity


class TinyGeometry(nn.Module):
    """Test double for the 3DMM regressor: a small random CNN -> (B, 147). Only its shape matters
    here; the published regressor is tested in tests/analysis/test_deep3d.py."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 147))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.net(faces)


def small_engine(size: int = 256, seed: int = 0) -> G2FaceEngine:
    torch.manual_seed(seed)
    networks = G2FaceNetworks.create(GeneratorConfig(size=size, channel_scale=1 / 16), ExtractorConfig(width=16, n_blocks=1))
    # hiding injections start at zero in the published init; give them weight so bits matter
    for inject in networks.generator.hiding_injects:
        nn.init.normal_(inject.weight, std=0.5)
    identity = ArcFaceIdentity(IResNet((1, 1, 1, 1), width=8))
    return G2FaceEngine(networks, identity, TinyGeometry())


class TinyCoefficientRegressor(nn.Module):
    """Test double for Deep3DFaceRecon: small random CNN -> 257 coefficients (``coefficients``) and
    the mapper's 147 (``forward``), small enough in scale for the BFM terms to stay finite."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 257))

    def coefficients(self, faces: torch.Tensor) -> torch.Tensor:
        return 0.1 * torch.tanh(self.net(faces))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        from faceveil.methods.g2face.priors import geometry_from_coefficients

        return geometry_from_coefficients(self.coefficients(faces))
