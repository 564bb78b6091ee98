"""Geometry on MediaPipe FaceMesh points: similarity Procrustes, head pose (yaw/pitch/roll) against a
canonical mesh, and pose-normalised shape / expression descriptors.

Coordinates: x right, y down (image pixels), z away from the camera -- a right-handed frame.
Angles, in degrees, with R = Rz(roll) @ Ry(yaw) @ Rx(pitch) rotating the canonical (frontal) mesh
onto the observed one:
- yaw > 0: the face turns so its nose points to the image's left;
- pitch > 0: the forehead moves toward the camera (face looks down);
- roll > 0: the eye line turns clockwise in the image (the viewer-right eye lower).
Mirroring an image horizontally negates yaw and roll and keeps pitch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from faceveil.errors import InputError

MESH_POINTS = 468

# Landmark groups of the MediaPipe FaceMesh topology.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # fmt: skip
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409, 78, 95, 88,
        178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415)  # fmt: skip
VIEWER_LEFT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
VIEWER_RIGHT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)
VIEWER_LEFT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
VIEWER_RIGHT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
NOSE = (1, 2, 4, 5, 6, 19, 94, 168, 197, 195, 98, 327)
# Points that move with expression vs. points mostly fixed by head shape.
EXPRESSION_POINTS = tuple(sorted(set(LIPS + VIEWER_LEFT_EYE + VIEWER_RIGHT_EYE + VIEWER_LEFT_BROW + VIEWER_RIGHT_BROW)))
SHAPE_POINTS = tuple(sorted(set(FACE_OVAL + NOSE)))
EYE_OUTER = (33, 263)  # viewer-left and viewer-right outer eye corners


@dataclass(frozen=True)
class Similarity:
    """dst ~= scale * src @ rotation.T + translation; rotation (3, 3) proper (det +1)."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation


def procrustes(src: np.ndarray, dst: np.ndarray) -> Similarity:
    """Least-squares similarity (Umeyama 1991) mapping src (N, 3) onto dst (N, 3); no reflection."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 3:
        raise InputError(f"procrustes needs two (N, D) point sets with N >= 3, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.ones(src.shape[1])
    sign[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0  # flip the weakest axis instead of reflecting
    rotation = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / len(src)
    scale = float((sigma * sign).sum() / var_s) if var_s > 0 else 1.0
    return Similarity(scale, rotation, mu_d - scale * mu_s @ rotation.T)


@dataclass(frozen=True)
class HeadPose:
    yaw: float  # degrees
    pitch: float
    roll: float

    def as_array(self) -> np.ndarray:
        return np.array([self.yaw, self.pitch, self.roll])


def rotation_to_pose(rotation: np.ndarray) -> HeadPose:
    """Euler angles (degrees) of R = Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return HeadPose(*(float(np.degrees(a)) for a in (yaw, pitch, roll)))


def pose_to_rotation(pose: HeadPose) -> np.ndarray:
    y, p, r = np.radians([pose.yaw, pose.pitch, pose.roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@lru_cache(maxsize=1)
def canonical_mesh() -> tuple[np.ndarray, np.ndarray]:
    """(468, 3) canonical frontal mesh (unit RMS radius, centred, left-right symmetric) and the (468,)
    mirror permutation (index of each point's left-right counterpart), see canonical_mesh.py."""
    from faceveil.analysis import _canonical_mesh_data as data

    return np.array(data.POINTS, dtype=np.float64), np.array(data.MIRROR, dtype=np.int64)


def _check_mesh(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (MESH_POINTS, 3) or not np.isfinite(pts).all():
        raise InputError(f"expected a (468, 3) finite FaceMesh, got shape {pts.shape}")
    return pts


def head_pose(points: np.ndarray) -> HeadPose:
    """Yaw/pitch/roll of a (468, 3) FaceMesh (image-space x, y and z) against the canonical mesh.
    Uses the shape points only, so an open mouth or closed eyes do not tilt the estimate."""
    pts = _check_mesh(points)
    canonical, _ = canonical_mesh()
    idx = list(SHAPE_POINTS)
    return rotation_to_pose(procrustes(canonical[idx], pts[idx]).rotation)


def normalized_mesh(points: np.ndarray) -> np.ndarray:
    """(468, 3) mesh with pose, position and scale removed: Procrustes-aligned onto the canonical
    mesh's frame (unit RMS radius), so differences measure shape and expression only."""
    pts = _check_mesh(points)
    canonical, _ = canonical_mesh()
    idx = list(SHAPE_POINTS)
    to_canonical = procrustes(pts[idx], canonical[idx])
    return to_canonical.apply(pts)


def shape_descriptor(points: np.ndarray) -> np.ndarray:
    """(len(SHAPE_POINTS) * 3,) pose-normalised face-oval and nose coordinates."""
    return normalized_mesh(points)[list(SHAPE_POINTS)].ravel()


def expression_descriptor(points: np.ndarray) -> np.ndarray:
    """(len(EXPRESSION_POINTS) * 3,) pose-normalised lips, eyes and eyebrows coordinates."""
    return normalized_mesh(points)[list(EXPRESSION_POINTS)].ravel()
