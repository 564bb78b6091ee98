"""BFM 3D morphable model terms for G2Face's geometry loss (shape, 68 landmarks, shading), from a
user-supplied Deep3DFaceRecon basis file (``BFM_model_front.mat``, not redistributable).

Conventions follow Deep3DFaceRecon: coefficients (B, 257); the mean shape is re-centred; rotation
from Euler angles (x, y, z) in radians applied as ``points @ R^T``; camera at distance 10 looking
down -z, perspective with focal 1015 and principal point 112 on a 224 px image; second-order
spherical-harmonics lighting with an ambient offset of 0.8 added to each channel's first coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from faceveil.errors import InputError
from faceveil.methods.g2face.config import COEFF_SLICES

_SH_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_SH_C = (1 / math.sqrt(4 * math.pi), math.sqrt(3.0) / math.sqrt(4 * math.pi), 3 * math.sqrt(5.0) / math.sqrt(12 * math.pi))


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """Euler angles (B, 3) (x, y, z) -> R (B, 3, 3) = Rz @ Ry @ Rx (points rotate as p @ R^T)."""
    x, y, z = angles.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Unit normals (B, N, 3) -> the 9 real SH basis values (B, N, 9) scaled as in Deep3DFaceRecon."""
    nx, ny, nz = normals.unbind(-1)
    a, c = _SH_A, _SH_C
    return torch.stack([
        torch.full_like(nx, a[0] * c[0]),
        -a[1] * c[1] * ny, a[1] * c[1] * nz, -a[1] * c[1] * nx,
        a[2] * c[2] * nx * ny, -a[2] * c[2] * ny * nz, 0.5 * a[2] * c[2] / math.sqrt(3.0) * (3 * nz**2 - 1),
        -a[2] * c[2] * nx * nz, 0.5 * a[2] * c[2] * (nx**2 - ny**2),
    ], dim=-1)


@dataclass
class MorphableModel:
    """BFM basis tensors. N vertices, F triangles.

    mean_shape (3N,), id_base (3N, 80), exp_base (3N, 64), mean_tex (3N,) in [0, 255],
    tex_base (3N, 80), triangles (F, 3) 0-based, vertex_faces (N, K) 0-based indices of adjacent
    triangles (F = padding, pointing at a zero normal), keypoints (68,) 0-based vertex indices.
    """

    mean_shape: torch.Tensor
    id_base: torch.Tensor
    exp_base: torch.Tensor
    mean_tex: torch.Tensor
    tex_base: torch.Tensor
    triangles: torch.Tensor
    vertex_faces: torch.Tensor
    keypoints: torch.Tensor
    focal: float = 1015.0
    center: float = 112.0
    camera_distance: float = 10.0
    ambient: float = 0.8

    @classmethod
    def from_mat(cls, path: Path) -> MorphableModel:
        """Load Deep3DFaceRecon's ``BFM_model_front.mat`` (1-based indices in the file)."""
        from scipy.io import loadmat

        try:
            m = loadmat(str(path))
            mean = m["meanshape"].astype(np.float32).reshape(-1, 3)
            mean = mean - mean.mean(axis=0, keepdims=True)  # re-centre, as Deep3DFaceRecon does
            t = lambda key: torch.from_numpy(np.ascontiguousarray(m[key].astype(np.float32)))  # noqa: E731
            idx = lambda key: torch.from_numpy(np.squeeze(m[key]).astype(np.int64) - 1)  # noqa: E731
            return cls(torch.from_numpy(mean.reshape(-1)), t("idBase"), t("exBase"), t("meantex").reshape(-1), t("texBase"),
                       idx("tri"), idx("point_buf"), idx("keypoints"))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path} is not a Deep3DFaceRecon BFM basis file ({exc})") from None

    def to(self, device: torch.device | str) -> MorphableModel:
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self

    def shape(self, id_coeff: torch.Tensor, exp_coeff: torch.Tensor) -> torch.Tensor:
        """(B, 80), (B, 64) -> vertices (B, N, 3) in model space."""
        flat = self.mean_shape + id_coeff @ self.id_base.T + exp_coeff @ self.exp_base.T
        return flat.view(id_coeff.shape[0], -1, 3)

    def normals(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) -> unit vertex normals (B, N, 3): mean of adjacent triangle normals."""
        v = vertices
        tri = self.triangles
        face_n = torch.cross(v[:, tri[:, 0]] - v[:, tri[:, 1]], v[:, tri[:, 1]] - v[:, tri[:, 2]], dim=-1)
        face_n = F.normalize(face_n, dim=-1)
        face_n = torch.cat([face_n, face_n.new_zeros(v.shape[0], 1, 3)], dim=1)  # padding slot
        return F.normalize(face_n[:, self.vertex_faces].sum(dim=2), dim=-1)

    def project(self, vertices: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
        """Model-space vertices (B, N, 3) -> image points (B, N, 2) on the 224 px crop (y up)."""
        cam = vertices @ rotation.transpose(1, 2) + translation.unsqueeze(1)
        depth = self.camera_distance - cam[..., 2:]
        return self.focal * cam[..., :2] / depth + self.center

    def terms(self, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 257) -> {"shape": (B, N, 3), "landmark": (B, 68, 2), "color": (B, N, 3) shaded albedo in [0, 1]}."""
        part = {k: coeffs[:, a:b] for k, (a, b) in COEFF_SLICES.items()}
        vertices = self.shape(part["id"], part["exp"])
        rotation = rotation_matrix(part["angle"])
        landmarks = self.project(vertices[:, self.keypoints], rotation, part["trans"])
        albedo = ((self.mean_tex + part["tex"] @ self.tex_base.T) / 255.0).view(coeffs.shape[0], -1, 3)
        normals = self.normals(vertices) @ rotation.transpose(1, 2)
        gamma = part["gamma"].view(-1, 3, 9).clone()
        gamma[:, :, 0] = gamma[:, :, 0] + self.ambient
        shading = sh_basis(normals) @ gamma.transpose(1, 2)  # (B, N, 3)
        return {"shape": vertices, "landmark": landmarks, "color": shading * albedo}
