"""The two frozen priors G2Face conditions on, behind small interfaces so that substitutes
(e.g. a package-shipped recognizer) can replace the published networks:

- identity: face crops (B, 3, S, S) in [-1, 1] -> identity embedding (B, identity_dim)
- geometry: face crops (B, 3, S, S) in [-1, 1] -> geometry vector (B, geometry_dim)

``published``: ArcFace (512) + Deep3DFaceRecon id | exp | angles (147), user weights;
``offline``: MobileFace (256) + normalised FaceMesh (1404), npm human-models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from faceveil.analysis.arcface import IResNet, embed_faces, iresnet50
from faceveil.analysis.deep3d import ReconNet, regress_coefficients
from faceveil.methods.g2face.checkpoint import load_strict, read_checkpoint
from faceveil.methods.g2face.config import COEFF_SLICES, IDENTITY_DIM, N_GEOMETRY_COEFFS
from faceveil.errors import InputError


def geometry_from_coefficients(coeffs: torch.Tensor) -> torch.Tensor:
    """(B, 257) Deep3DFaceRecon coefficients -> (B, 147) = id (80) | exp (64) | angles (3)."""
    (i0, i1), (e0, e1), (a0, a1) = COEFF_SLICES["id"], COEFF_SLICES["exp"], COEFF_SLICES["angle"]
    return torch.cat([coeffs[:, i0:i1], coeffs[:, e0:e1], coeffs[:, a0:a1]], dim=1)


class ArcFaceIdentity(nn.Module):
    """Published identity prior: ArcFace IResNet-50 on the crop resized to 112 px by nearest
    neighbour, as G2Face's vendored iresnet does in its forward (the networks were trained so)."""

    def __init__(self, backbone: IResNet | None = None):
        super().__init__()
        self.backbone = backbone if backbone is not None else iresnet50()

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return embed_faces(self.backbone, faces, resize="nearest")

    @classmethod
    def from_file(cls, path: Path) -> ArcFaceIdentity:
        state = read_checkpoint(path)
        return cls(load_strict(iresnet50(), state, f"{path}")).eval()


class Deep3DGeometry(nn.Module):
    """Published geometry prior: Deep3DFaceRecon coefficients of the crop at its own size (256 px
    unresized, as G2Face's test.py and training feed it; Deep3DFaceRecon itself was trained at 224)."""

    def __init__(self, net: ReconNet | None = None):
        super().__init__()
        self.net = net if net is not None else ReconNet()

    def coefficients(self, faces: torch.Tensor) -> torch.Tensor:
        """All 257 coefficients (B, 257), for the BFM geometry loss."""
        return regress_coefficients(self.net, faces, size=None)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return geometry_from_coefficients(self.coefficients(faces))

    @classmethod
    def from_file(cls, path: Path) -> Deep3DGeometry:
        state = read_checkpoint(path)
        if "net_recon" not in state:
            raise InputError(f"{path}: expected a Deep3DFaceRecon checkpoint with entry 'net_recon'")
        return cls(load_strict(ReconNet(), state["net_recon"], f"{path}[net_recon]")).eval()


class MobileFaceIdentity(nn.Module):
    """Offline identity prior: MobileFace (256-d, npm human-models, MIT), differentiable in torch.

    The G2Face crop is FFHQ-framed (face ~60 % of the side); MobileFace was used on tighter crops,
    so the central ``face_fraction`` of the crop is resized to its 112 px input.
    """

    dim = 256

    def __init__(self, face_fraction: float = 0.7):
        super().__init__()
        from faceveil.analysis.human_models import mobileface_recognizer

        self.recognizer = mobileface_recognizer()
        self.net = self.recognizer.module  # registered so .to()/.eval() reach it
        self.face_fraction = face_fraction

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = central_crop(faces, self.face_fraction, self.recognizer.spec.input_size)
        return self.recognizer.embed_tensor(x)


class FaceMeshGeometry(nn.Module):
    """Offline geometry prior: MediaPipe FaceMesh (468 3-D points, npm human-models, MIT).

    Output (B, 1404): the mesh centred and scaled to unit RMS (position/scale of the face in the crop
    is not geometry), flattened. It carries head pose, face shape and expression together.
    """

    dim = 468 * 3
    INPUT = 192

    def __init__(self, face_fraction: float = 0.8):
        super().__init__()
        from faceveil.analysis.human_models import load_graph

        self.net = load_graph("facemesh", ["Identity_2"])
        self.face_fraction = face_fraction

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = (central_crop(faces, self.face_fraction, self.INPUT) + 1) / 2  # FaceMesh takes [0, 1]
        mesh = self.net(x.permute(0, 2, 3, 1))["Identity_2"].reshape(faces.shape[0], 468, 3)
        mesh = mesh - mesh.mean(dim=1, keepdim=True)
        mesh = mesh / mesh.pow(2).sum(-1).mean(dim=1, keepdim=True).sqrt().unsqueeze(-1).clamp(min=1e-6)
        return mesh.flatten(1)


def central_crop(faces: torch.Tensor, fraction: float, size: int) -> torch.Tensor:
    """Central ``fraction`` of (B, 3, S, S) resized to (B, 3, size, size) (bilinear, antialiased)."""
    s = faces.shape[-1]
    side = max(1, int(round(s * fraction)))
    top = (s - side) // 2
    x = faces[..., top : top + side, top : top + side]
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


PRIOR_KINDS: tuple[str, ...] = ("published", "offline")
# (identity_dim, geometry_dim) each kind produces, known without loading any weights
PRIOR_DIMS: dict[str, tuple[int, int]] = {
    "published": (IDENTITY_DIM, N_GEOMETRY_COEFFS),
    "offline": (MobileFaceIdentity.dim, FaceMeshGeometry.dim),
}


@dataclass
class PriorPair:
    """An identity and a geometry prior with their output sizes (what the mapper was trained on)."""

    kind: str
    identity: nn.Module
    geometry: nn.Module
    identity_dim: int
    geometry_dim: int


def load_priors(kind: str) -> PriorPair:
    """Load one set of priors; ModelUnavailableError names any missing weight file."""
    if kind == "published":
        from faceveil.methods.g2face.weights import ARCFACE, DEEP3D
        from faceveil.models_registry import require_models

        paths = require_models([ARCFACE.name, DEEP3D.name])
        return PriorPair(kind, ArcFaceIdentity.from_file(paths[ARCFACE.name]), Deep3DGeometry.from_file(paths[DEEP3D.name]),
                         *PRIOR_DIMS[kind])
    if kind == "offline":
        return PriorPair(kind, MobileFaceIdentity(), FaceMeshGeometry(), *PRIOR_DIMS[kind])
    raise InputError(f"unknown priors {kind!r}; choose one of: {', '.join(PRIOR_KINDS)}")
