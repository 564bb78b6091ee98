import io

import numpy as np
import pytest
from PIL import Image

from faceveil.analysis.dlib_models import DlibHogDetector
from faceveil.eval.samples import load_sample
from faceveil.faces.types import Face


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_sample("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    return load_sample("grace_hopper")


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


def crop_face(rgb: np.ndarray, face: Face, left: int, top: int) -> tuple[np.ndarray, Face]:
    x0, y0, x1, y1 = face.box
    return rgb[top:, left:].copy(), Face(box=(x0 - left, y0 - top, x1 - left, y1 - top))


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the image centre (boxes move little for small angles)."""
    return np.asarray(Image.fromarray(rgb).rotate(degrees, resample=Image.BILINEAR))
