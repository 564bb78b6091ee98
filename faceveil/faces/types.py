"""The one representation of a detected face that flows through faceveil."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from faceveil.errors import InputError

# Landmark order used everywhere (CenterFace / RetinaFace / ArcFace convention), as seen by the viewer:
# 0 left eye, 1 right eye, 2 nose tip, 3 left mouth corner, 4 right mouth corner.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Face:
    """A face in image pixel coordinates.

    box: (x0, y0, x1, y1) floats, may extend past the image border.
    landmarks: (5, 2) float32 array in LANDMARK_NAMES order, or None if the detector has none.
    score: detector confidence in [0, 1].
    track_id: set by the video tracker; None for photos.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None = field(default=None, compare=False)
    score: float = 1.0
    track_id: int | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict:
        d = {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4)}
        if self.landmarks is not None:
            d["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks]
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        return d


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, box/landmarks in its pixel coordinates, best first."""
        ...


def check_rgb_image(image: np.ndarray, what: str = "image", *, error: type[Exception] = InputError) -> None:
    """Raise ``error`` (InputError: the caller passed user data) unless ``image`` is a non-empty
    (H, W, 3) uint8 array: the one RGB check of detection, alignment, the methods, the frame
    pipeline (which passes ValueError: a bad frame there is a programming error) and the analysis models."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise error(f"{what} must be an (H, W, 3) uint8 array, got {getattr(image, 'shape', type(image))} "
                    f"{getattr(image, 'dtype', '')}".rstrip())
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise error(f"{what} is empty: {image.shape}")


class AlphaMask(Protocol):
    """A soft mask evaluated on pixel windows (faceveil.faces.mask.ImageMask is the implementation);
    declared here so that paste-back (faces.align) takes one without importing faces.mask."""

    def alpha(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(h, w) float32 alpha in [0, 1] for the pixel window at (x, y)."""
        ...
