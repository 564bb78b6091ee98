"""dlib models shipped in the ``face_recognition_models`` package (weights CC0 / dlib's Boost licence).

- :class:`DlibRecognizer`: ResNet-34-style 128-d face descriptor (99.38 % on LFW per dlib); Euclidean
  distance < 0.6 means "same person".
- :class:`DlibLandmarks68`: the iBUG 68-point shape predictor.
- :class:`DlibHogDetector` / :class:`DlibMmodDetector`: HOG+SVM and CNN (MMOD) face detectors.

Model files are located with :func:`faceveil.models_registry.package_file`, without importing
``face_recognition_models`` (its ``__init__`` imports ``pkg_resources``). ``dlib`` itself is imported
only when a model is first used, so importing this module is cheap.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from faceveil.analysis._images import as_rgb_uint8
from faceveil.analysis.recognizer import cosine_similarity
from faceveil.errors import InputError
from faceveil.faces.types import Face
from faceveil.models_registry import ModelSpec, package_file, register_model, require_model

_PACKAGE = "face_recognition_models"
_SOURCE = (
    "PyPI face-recognition-models 0.3.0 (models by Davis King / dlib; weights CC0 / public domain, "
    "68-point predictor trained on iBUG 300-W: non-commercial use)"
)
_WHERE = "site-packages/face_recognition_models/models/"

# Euclidean distance below which dlib's descriptor calls two faces the same person (dlib's documentation).
DLIB_SAME_PERSON_DISTANCE = 0.6


def _package_model(filename: str):
    def locate() -> Path | None:
        return package_file(_PACKAGE, "models", filename)

    return locate


for _name, _file, _description in (
    ("dlib-resnet-128", "dlib_face_recognition_resnet_model_v1.dat", "dlib ResNet 128-d face descriptor"),
    ("dlib-shape-5", "shape_predictor_5_face_landmarks.dat", "dlib 5-point shape predictor (descriptor alignment)"),
    ("dlib-shape-68", "shape_predictor_68_face_landmarks.dat", "dlib 68-point landmarks (iBUG 300-W)"),
    ("dlib-mmod", "mmod_human_face_detector.dat", "dlib MMOD CNN face detector"),
):
    register_model(
        ModelSpec(name=_name, description=_description, source=_SOURCE, locate=_package_model(_file), where=_WHERE)
    )


def _dlib():
    import dlib  # deferred: ~0.3 s import, only needed when a model runs

    return dlib


def face_to_rectangle(face: Face, image_shape: tuple[int, ...]):
    """Face box (x0, y0, x1, y1) floats -> dlib.rectangle of integer pixels (may extend past the border,
    as dlib's own detections do). Raises InputError for empty boxes."""
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise InputError(f"face box {face.box} is too small for dlib models")
    h, w = image_shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise InputError(f"face box {face.box} lies outside the {w}x{h} image")
    return _dlib().rectangle(x0, y0, x1, y1)


class DlibRecognizer:
    """dlib's 128-d face descriptor, computed on the 5-point-aligned 150x150 chip of ``face.box``.

    The 5 landmarks are predicted inside the given box (not taken from ``face.landmarks``), so the
    descriptor needs only a box and works on anonymized faces a detector no longer finds.
    """

    name = "dlib"
    dim = 128
    # Descriptors of faces have norm ~1.43, so |a - b| = 0.6 corresponds to cosine 1 - 0.6**2 / (2 * 1.43**2).
    same_person_cosine = 1.0 - DLIB_SAME_PERSON_DISTANCE**2 / (2 * 1.43**2)

    def __init__(self, num_jitters: int = 0, padding: float = 0.25) -> None:
        """num_jitters: extra randomly jittered copies averaged (dlib's option; 0 = deterministic).
        padding: context around the aligned chip, dlib's default 0.25."""
        if num_jitters < 0:
            raise InputError("num_jitters must be >= 0")
        self.num_jitters = num_jitters
        self.padding = padding

    @cached_property
    def _shape5(self):
        return _dlib().shape_predictor(str(require_model("dlib-shape-5")))

    @cached_property
    def _net(self):
        return _dlib().face_recognition_model_v1(str(require_model("dlib-resnet-128")))

    def shape5(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(5, 2) float32 dlib 5-point landmarks (eye corners + nose base, dlib's order) inside ``face.box``."""
        img = as_rgb_uint8(rgb)
        shape = self._shape5(img, face_to_rectangle(face, img.shape))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def descriptor(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(H, W, 3) uint8 RGB + face -> (128,) float32 descriptor."""
        img = as_rgb_uint8(rgb)
        shape = self._shape5(img, face_to_rectangle(face, img.shape))
        vec = self._net.compute_face_descriptor(img, shape, self.num_jitters, self.padding)
        return np.asarray(vec, dtype=np.float32)

    embed = descriptor  # Recognizer protocol name

    def similarity(self, emb_a: np.ndarray, emb_b: np.ndarray) -> float:
        return cosine_similarity(emb_a, emb_b)

    def same_person(self, emb_a: np.ndarray, emb_b: np.ndarray) -> bool:
        """dlib's rule: Euclidean distance below 0.6."""
        return float(np.linalg.norm(np.asarray(emb_a) - np.asarray(emb_b))) < DLIB_SAME_PERSON_DISTANCE

    def distance(self, rgb_a: np.ndarray, face_a: Face, rgb_b: np.ndarray, face_b: Face) -> float:
        """Euclidean distance between the two faces' descriptors; < 0.6 = same person."""
        return float(np.linalg.norm(self.descriptor(rgb_a, face_a) - self.descriptor(rgb_b, face_b)))


class DlibLandmarks68:
    """iBUG 68-point landmarks predicted inside a face box."""

    @cached_property
    def _predictor(self):
        return _dlib().shape_predictor(str(require_model("dlib-shape-68")))

    def landmarks(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(H, W, 3) uint8 RGB + face -> (68, 2) float32 (x, y) pixels in iBUG order."""
        img = as_rgb_uint8(rgb)
        shape = self._predictor(img, face_to_rectangle(face, img.shape))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


class DlibHogDetector:
    """dlib's HOG + linear SVM frontal face detector (no model file: built into dlib)."""

    name = "dlib-hog"

    def __init__(self, upsample: int = 1) -> None:
        self.upsample = upsample  # image pyramid up-steps: 1 finds faces down to ~40 px

    @cached_property
    def _detector(self):
        return _dlib().get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """(H, W, 3) uint8 RGB -> faces sorted by decreasing score (box only, no landmarks)."""
        img = as_rgb_uint8(rgb)
        rects, scores, _ = self._detector.run(img, self.upsample, 0.0)
        faces = [
            Face(box=(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), score=_squash(s))
            for r, s in zip(rects, scores)
        ]
        return sorted(faces, key=lambda f: -f.score)


class DlibMmodDetector:
    """dlib's CNN (max-margin object detection) face detector; slower, more pose-tolerant than HOG."""

    name = "dlib-mmod"

    def __init__(self, upsample: int = 0) -> None:
        self.upsample = upsample

    @cached_property
    def _detector(self):
        return _dlib().cnn_face_detection_model_v1(str(require_model("dlib-mmod")))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        img = as_rgb_uint8(rgb)
        dets = self._detector(img, self.upsample)
        faces = [
            Face(
                box=(float(d.rect.left()), float(d.rect.top()), float(d.rect.right()), float(d.rect.bottom())),
                score=_squash(d.confidence),
            )
            for d in dets
        ]
        return sorted(faces, key=lambda f: -f.score)


def _squash(margin: float) -> float:
    """dlib detectors return SVM margins (unbounded); Face.score is in [0, 1], so map with a logistic."""
    return float(1.0 / (1.0 + np.exp(-margin)))
