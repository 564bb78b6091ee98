"""The two frozen priors G2Face conditions on, behind small interfaces so that substitutes
(e.g. a package-shipped recognizer) can replace the published networks:

- identity: face crops (B, 3, S, S) in [-1, 1] -> identity embedding (B, 512)
- geometry: face crops (B, 3, S, S) in [-1, 1] -> 3DMM coefficients id | exp | angles (B, 147)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from faceveil.analysis.arcface import IResNet, embed_faces, iresnet50
from faceveil.analysis.deep3d import ReconNet, regress_coefficients
from faceveil.methods.g2face.checkpoint import load_strict, read_checkpoint
from faceveil.methods.g2face.config import COEFF_SLICES
from faceveil.errors import InputError


def geometry_from_coefficients(coeffs: torch.Tensor) -> torch.Tensor:
    """(B, 257) Deep3DFaceRecon coefficients -> (B, 147) = id (80) | exp (64) | angles (3)."""
    (i0, i1), (e0, e1), (a0, a1) = COEFF_SLICES["id"], COEFF_SLICES["exp"], COEFF_SLICES["angle"]
    return torch.cat([coeffs[:, i0:i1], coeffs[:, e0:e1], coeffs[:, a0:a1]], dim=1)


class ArcFaceIdentity(nn.Module):
    """Published identity prior: ArcFace IResNet-50 on the crop resized to 112 px."""

    def __init__(self, backbone: IResNet | None = None):
        super().__init__()
        self.backbone = backbone if backbone is not None else iresnet50()

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return embed_faces(self.backbone, faces)

    @classmethod
    def from_file(cls, path: Path) -> ArcFaceIdentity:
        state = read_checkpoint(path)
        return cls(load_strict(iresnet50(), state, f"{path}")).eval()


class Deep3DGeometry(nn.Module):
    """Published geometry prior: Deep3DFaceRecon coefficients of the crop resized to 224 px."""

    def __init__(self, net: ReconNet | None = None):
        super().__init__()
        self.net = net if net is not None else ReconNet()

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return geometry_from_coefficients(regress_coefficients(self.net, faces))

    @classmethod
    def from_file(cls, path: Path) -> Deep3DGeometry:
        state = read_checkpoint(path)
        if "net_recon" not in state:
            raise InputError(f"{path}: expected a Deep3DFaceRecon checkpoint with entry 'net_recon'")
        return cls(load_strict(ReconNet(), state["net_recon"], f"{path}[net_recon]")).eval()
