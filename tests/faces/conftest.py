"""Real sample faces and synthetic collages with known ground-truth face geometry.

A collage face is the sample photo warped by a similarity transform (scale, rotation, translation) and
blended into a background through a soft ellipse around the face, so its true landmarks are the sample's
detected landmarks mapped by the same transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from faceveil.testing import load_sample
from faceveil.faces.detect import CenterFaceDetector, DetectorConfig
from faceveil.faces.types import Face


@dataclass(frozen=True)
class SampleFace:
    rgb: np.ndarray  # (H, W, 3) uint8
    face: Face  # the sample's (single, main) face as detected by CenterFace


@pytest.fixture(scope="session")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector(DetectorConfig())


def _main_face(detector: CenterFaceDetector, rgb: np.ndarray) -> Face:
    faces = detector.detect(rgb)
    assert faces, "CenterFace must find the sample face"
    return max(faces, key=lambda f: f.score)


@pytest.fixture(scope="session")
def samples(detector) -> dict[str, SampleFace]:
    out = {}
    for name in ("astronaut", "grace_hopper"):
        rgb = load_sample(name)
        out[name] = SampleFace(rgb, _main_face(detector, rgb))
    return out


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 face-free texture: smooth colour noise plus a gradient."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 215, size=(max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(texture + ramp, 0, 255).astype(np.uint8)


def paste_face(
    canvas: np.ndarray, sample: SampleFace, centre: tuple[float, float], face_width: float, angle: float
) -> tuple[np.ndarray, Face]:
    """Paste ``sample``'s face into a copy of canvas (H, W, 3) with its box centre at ``centre``, box width
    ``face_width`` px, rotated ``angle`` degrees counter-clockwise (as seen). Returns the new canvas and the
    true Face (rotated box's bounding box, mapped landmarks)."""
    x0, y0, x1, y1 = sample.face.box
    src_centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    scale = face_width / (x1 - x0)
    matrix = cv2.getRotationMatrix2D(src_centre, angle, scale)
    matrix[:, 2] += np.asarray(centre) - np.asarray(src_centre)
    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(sample.rgb, matrix, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    mask = np.zeros(sample.rgb.shape[:2], np.float32)
    axes = (int((x1 - x0) * 0.75), int((y1 - y0) * 0.75))
    cv2.ellipse(mask, (int(src_centre[0]), int(src_centre[1])), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), (x1 - x0) * 0.08)
    alpha = cv2.warpAffine(mask, matrix, (w, h))[..., None]
    out = (warped * alpha + canvas * (1 - alpha) + 0.5).astype(np.uint8)

    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    landmarks = (sample.face.landmarks @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    box = (*mapped.min(axis=0).tolist(), *mapped.max(axis=0).tolist())
    return out, Face(box=tuple(float(v) for v in box), landmarks=landmarks)


def collage(
    samples: dict[str, SampleFace], placements: list[tuple[str, float, float, float, float]], size=(720, 1280), seed=0
) -> tuple[np.ndarray, list[Face]]:
    """Background of ``size`` (H, W) with faces placed as (sample name, cx, cy, width, angle)."""
    canvas = background(*size, seed=seed)
    truths = []
    for name, cx, cy, width, angle in placements:
        canvas, truth = paste_face(canvas, samples[name], (cx, cy), width, angle)
        truths.append(truth)
    return canvas, truths


def centre(face: Face) -> np.ndarray:
    return np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])


def match(truths: list[Face], found: list[Face]) -> list[Face | None]:
    """For each true face the detection whose centre is nearest and within 0.35 face widths, else None."""
    out = []
    for truth in truths:
        best = min(found, key=lambda f: np.linalg.norm(centre(f) - centre(truth)), default=None)
        ok = best is not None and np.linalg.norm(centre(best) - centre(truth)) < 0.35 * truth.width
        out.append(best if ok else None)
    return out
