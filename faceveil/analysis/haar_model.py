"""Registry entry for OpenCV's Haar frontal-face cascade (kept apart from detectors.py so that
registering it does not import OpenCV)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model

HAAR_MODEL = "opencv-haar-frontalface"
_HAAR_FILE = "haarcascade_frontalface_default.xml"


def _locate_haar() -> Path | None:
    spec = importlib.util.find_spec("cv2")  # cv2.data.haarcascades without importing cv2
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root, "data", _HAAR_FILE)
        if path.exists():
            return path
    return None


register_model(
    ModelSpec(
        name=HAAR_MODEL,
        description="OpenCV Haar cascade frontal face detector (Viola-Jones)",
        source="opencv-python-headless (cv2/data, Intel License Agreement / BSD-3-Clause)",
        locate=_locate_haar,
        where="site-packages/cv2/data/" + _HAAR_FILE,
    )
)
