"""Square, roll-corrected face crops for models that take a fixed-size face image, and the
transform that maps model-space points back to the image."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class SquareCrop:
    """A square of ``side`` image pixels centred on (cx, cy), rotated by ``angle`` radians (the crop's
    x axis points along the image direction (cos angle, sin angle)), resampled to out_size^2 pixels."""

    cx: float
    cy: float
    side: float
    angle: float
    out_size: int

    @classmethod
    def around_box(cls, box: tuple[float, float, float, float], out_size: int, scale: float, angle: float = 0.0) -> SquareCrop:
        x0, y0, x1, y1 = box
        side = scale * max(x1 - x0, y1 - y0)
        if not side > 1.0:
            raise InputError(f"face box {box} is empty")
        return cls((x0 + x1) / 2.0, (y0 + y1) / 2.0, side, angle, out_size)

    @property
    def matrix(self) -> np.ndarray:
        """(2, 3) affine map image (x, y) -> crop (u, v)."""
        s = self.out_size / self.side
        cos, sin = math.cos(self.angle) * s, math.sin(self.angle) * s
        half = self.out_size / 2.0
        return np.array(
            [[cos, sin, half - (cos * self.cx + sin * self.cy)], [-sin, cos, half - (-sin * self.cx + cos * self.cy)]],
            dtype=np.float64,
        )

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) crop pixels -> (N, 2) image pixels (or (N, 3): z is scaled like x and y)."""
        pts = np.asarray(points, dtype=np.float64)
        inverse = cv2.invertAffineTransform(self.matrix)
        xy = pts[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        if pts.shape[1] == 2:
            return xy
        return np.concatenate([xy, pts[:, 2:3] * (self.side / self.out_size)], axis=1)

    def extract(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (out_size, out_size, 3) uint8; pixels outside the image are black."""
        img = as_rgb_uint8(rgb)
        crop = self
        if self.out_size / self.side < 1.0:
            # Shrink the neighbourhood with area averaging first: warpAffine alone would alias.
            img, crop = self._area_downscaled(img)
        return cv2.warpAffine(img, crop.matrix, (self.out_size, self.out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def _area_downscaled(self, img: np.ndarray) -> tuple[np.ndarray, SquareCrop]:
        """The part of ``img`` the crop can reach, resized with INTER_AREA to ~the crop's resolution,
        and the same crop expressed in that smaller image's pixels."""
        h, w = img.shape[:2]
        reach = 0.75 * self.side  # > half-diagonal (0.707 * side) at any rotation
        rx0, ry0 = max(int(self.cx - reach), 0), max(int(self.cy - reach), 0)
        rx1, ry1 = min(int(math.ceil(self.cx + reach)), w), min(int(math.ceil(self.cy + reach)), h)
        if rx1 - rx0 < 2 or ry1 - ry0 < 2:
            return img, self  # crop lies (almost) outside the image: nothing to average
        factor = self.out_size / self.side
        sub = img[ry0:ry1, rx0:rx1]
        new_w, new_h = max(round(sub.shape[1] * factor), 1), max(round(sub.shape[0] * factor), 1)
        small = cv2.resize(sub, (new_w, new_h), interpolation=cv2.INTER_AREA)
        fx = new_w / sub.shape[1]  # ~= new_h / sub.shape[0]; the sub-pixel anisotropy is negligible
        return small, SquareCrop((self.cx - rx0) * fx, (self.cy - ry0) * new_h / sub.shape[0], self.side * fx, self.angle, self.out_size)


def square_face_crop(rgb: np.ndarray, face: Face, out_size: int, scale: float, straighten: bool = True) -> np.ndarray:
    """Crop a square of side ``scale * max(box width, box height)`` centred on ``face.box``.

    rgb: (H, W, 3) uint8. Returns (out_size, out_size, 3) uint8; pixels outside the image are black.
    straighten: rotate so the eye line is horizontal (uses ``face.landmarks`` when present).
    """
    angle = face_roll(face) if straighten else 0.0
    return SquareCrop.around_box(face.box, out_size, scale, angle).extract(rgb)
