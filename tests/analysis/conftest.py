import io

import numpy as np
import pytest
from PIL import Image

from faceveil.analysis.dlib_models import DlibHogDetector
from faceveil.testing import load_sample
from faceveil.faces.types import Face


# `astronaut` and `grace_hopper` come from tests/conftest.py.


@pytest.fixture(scope="session")
def hog() -> DlibHogDetector:
    return DlibHogDetector()


def main_face(detector, rgb: np.ndarray) -> Face:
    """Largest detected face (the astronaut image also has a weak false positive on the suit)."""
    faces = detector.detect(rgb)
    assert faces, "the HOG detector must find the sample face"
    return max(faces, key=lambda f: f.width * f.height * f.score)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def flip_face(rgb: np.ndarray, face: Face) -> tuple[np.ndarray, Face]:
    w = rgb.shape[1]
    x0, y0, x1, y1 = face.box
    return np.ascontiguousarray(rgb[:, ::-1]), Face(box=(w - x1, y0, w - x0, y1))


def crop_face(rgb: np.ndarray, face: Face, left: int, top: int, zoom: float = 0.8) -> tuple[np.ndarray, Face]:
    """Cut ``left``/``top`` pixels off and resize by ``zoom`` (so pixels really change), moving the box along."""
    cut = rgb[top:, left:]
    size = (round(cut.shape[1] * zoom), round(cut.shape[0] * zoom))
    resized = np.asarray(Image.fromarray(cut).resize(size, Image.BILINEAR))
    x0, y0, x1, y1 = face.box
    return resized, Face(box=((x0 - left) * zoom, (y0 - top) * zoom, (x1 - left) * zoom, (y1 - top) * zoom))


def rotate(rgb: np.ndarray, face: Face, degrees: float) -> tuple[np.ndarray, Face]:
    """Rotate the image counter-clockwise about its centre; the face box keeps its size and follows its centre."""
    h, w = rgb.shape[:2]
    rotated = np.asarray(Image.fromarray(rgb).rotate(degrees, resample=Image.BILINEAR))
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2
    t = np.deg2rad(degrees)  # image y points down, so a counter-clockwise turn is (x, y) -> (x cos + y sin, -x sin + y cos)
    ncx, ncy = cx * np.cos(t) + cy * np.sin(t) + w / 2, -cx * np.sin(t) + cy * np.cos(t) + h / 2
    hw, hh = (x1 - x0) / 2, (y1 - y0) / 2
    return rotated, Face(box=(ncx - hw, ncy - hh, ncx + hw, ncy + hh))


@pytest.fixture(scope="session")
def cameraman() -> np.ndarray:
    return load_sample("cameraman")


# The cameraman's face (measured with dlib's MMOD detector; HOG misses this turned face).
CAMERAMAN_FACE = Face(box=(189.0, 117.0, 257.0, 185.0))
