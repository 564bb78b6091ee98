"""Square, roll-corrected face crops for recognizers that take a fixed-size face image."""

from __future__ import annotations

import math

import cv2
import numpy as np

from faceveil.analysis._images import as_rgb_uint8
from faceveil.errors import InputError
from faceveil.faces.types import Face


def face_roll(face: Face) -> float:
    """In-plane rotation (radians) of the eye line, 0 when the face has no landmarks."""
    if face.landmarks is None:
        return 0.0
    (lx, ly), (rx, ry) = np.asarray(face.landmarks, dtype=np.float64)[:2]
    return math.atan2(ry - ly, rx - lx)


def square_face_crop(rgb: np.ndarray, face: Face, out_size: int, scale: float, straighten: bool = True) -> np.ndarray:
    """Crop a square of side ``scale * max(box width, box height)`` centred on ``face.box``.

    rgb: (H, W, 3) uint8. Returns (out_size, out_size, 3) uint8; pixels outside the image are black.
    straighten: rotate so the eye line is horizontal (uses ``face.landmarks`` when present).
    """
    img = as_rgb_uint8(rgb)
    x0, y0, x1, y1 = face.box
    side = scale * max(x1 - x0, y1 - y0)
    if not side > 1.0:
        raise InputError(f"face box {face.box} is empty")
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    angle = face_roll(face) if straighten else 0.0
    scale_px = out_size / side
    if scale_px < 1.0:
        # Shrink the neighbourhood with area averaging first: warpAffine alone would alias.
        img, (cx, cy), scale_px = _area_downscale(img, cx, cy, side, scale_px)
    # Similarity that maps the rotated square around (cx, cy) onto [0, out_size)^2.
    cos, sin = math.cos(angle) * scale_px, math.sin(angle) * scale_px
    matrix = np.array(
        [[cos, sin, out_size / 2.0 - (cos * cx + sin * cy)], [-sin, cos, out_size / 2.0 - (-sin * cx + cos * cy)]],
        dtype=np.float64,
    )
    return cv2.warpAffine(img, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _area_downscale(img: np.ndarray, cx: float, cy: float, side: float, scale_px: float):
    """Cut the part of ``img`` a rotated square of ``side`` around (cx, cy) can reach and resize it by
    ``scale_px`` with INTER_AREA. Returns (small image, centre in its pixels, remaining scale ~1)."""
    h, w = img.shape[:2]
    reach = 0.75 * side  # > half-diagonal (0.707 * side) of the square at any rotation
    rx0, ry0 = max(int(cx - reach), 0), max(int(cy - reach), 0)
    rx1, ry1 = min(int(math.ceil(cx + reach)), w), min(int(math.ceil(cy + reach)), h)
    if rx1 - rx0 < 2 or ry1 - ry0 < 2:
        return img, (cx, cy), scale_px  # square lies (almost) outside: nothing to average
    sub = img[ry0:ry1, rx0:rx1]
    new_w, new_h = max(int(round(sub.shape[1] * scale_px)), 1), max(int(round(sub.shape[0] * scale_px)), 1)
    small = cv2.resize(sub, (new_w, new_h), interpolation=cv2.INTER_AREA)
    sx = new_w / sub.shape[1]
    return small, ((cx - rx0) * sx, (cy - ry0) * new_h / sub.shape[0]), scale_px / sx
