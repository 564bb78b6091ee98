"""Every face detector the evaluation measures detection rate with, behind one name -> factory table.

- ``centerface``: faceveil's production detector (faceveil.faces.detect)
- ``dlib-hog``, ``dlib-mmod``: dlib HOG+SVM and CNN detectors (faceveil.analysis.dlib_models)
- ``blazeface``: MediaPipe BlazeFace (faceveil.analysis.mediapipe_models)
- ``haar``: OpenCV's Viola-Jones frontal cascade (``cv2.data.haarcascades``, Intel licence / BSD)

All return ``list[Face]`` for an (H, W, 3) uint8 RGB image. The factories are declared in
faceveil.plugins.DETECTORS, so the pipeline (``--detector``) and the evaluation use the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from faceveil.analysis._images import as_rgb_uint8
from faceveil.analysis.haar_model import HAAR_MODEL
from faceveil.errors import InputError
from faceveil.faces.types import Face
from faceveil.models_registry import require_model


@dataclass(frozen=True)
class HaarConfig:
    scale_factor: float = 1.1  # image pyramid step
    min_neighbors: int = 5  # overlapping raw hits needed to keep a face (OpenCV's usual value)
    min_size: int = 24  # smallest face side in pixels (the cascade's training window)


class HaarDetector:
    name = "haar"

    def __init__(self, config: HaarConfig | None = None) -> None:
        self.config = config or HaarConfig()

    @cached_property
    def _cascade(self):
        import cv2

        cascade = cv2.CascadeClassifier(str(require_model(HAAR_MODEL)))
        if cascade.empty():
            raise InputError(f"cannot load Haar cascade {require_model(HAAR_MODEL)}")
        return cascade

    def detect(self, rgb: np.ndarray) -> list[Face]:
        import cv2

        gray = cv2.equalizeHist(cv2.cvtColor(as_rgb_uint8(rgb), cv2.COLOR_RGB2GRAY))
        c = self.config
        rects, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=c.scale_factor, minNeighbors=c.min_neighbors, minSize=(c.min_size, c.min_size), outputRejectLevels=True
        )
        faces = [
            # The last-stage weight is an unbounded margin; squash it into Face.score's [0, 1].
            Face(box=(float(x), float(y), float(x + w), float(y + h)), score=float(1.0 / (1.0 + np.exp(-float(wt)))))
            for (x, y, w, h), wt in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1))
        ]
        return sorted(faces, key=lambda f: -f.score)


def _centerface(**options):
    from faceveil.faces.detect import create_detector

    return create_detector("centerface", **options)


def _dlib_hog(**options):
    from faceveil.analysis.dlib_models import DlibHogDetector

    return DlibHogDetector(**options)


def _dlib_mmod(**options):
    from faceveil.analysis.dlib_models import DlibMmodDetector

    return DlibMmodDetector(**options)


def _blazeface(**options):
    from faceveil.analysis.mediapipe_models import BlazeFaceConfig, BlazeFaceDetector

    return BlazeFaceDetector(BlazeFaceConfig(**options))


def _haar(**options):
    return HaarDetector(HaarConfig(**options))


# name -> factory; faceveil.plugins.DETECTORS points at these
EVAL_DETECTORS: dict[str, Callable[..., object]] = {
    "centerface": _centerface,
    "dlib-hog": _dlib_hog,
    "dlib-mmod": _dlib_mmod,
    "blazeface": _blazeface,
    "haar": _haar,
}


def create_eval_detector(name: str, **options):
    """A detector by name (faceveil.plugins.DETECTORS); object with ``detect(rgb) -> list[Face]``."""
    from faceveil.plugins import DETECTORS

    if name not in DETECTORS:
        raise InputError(f"unknown detector {name!r}; choose from: {', '.join(DETECTORS.names())}")
    try:
        return DETECTORS.create(name, **options)
    except TypeError as exc:
        raise InputError(f"invalid option for detector {name!r}: {exc}") from None
