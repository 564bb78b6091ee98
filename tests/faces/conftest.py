"""Real sample faces and synthetic collages with known ground-truth face geometry
(generators in faceveil.eval.scenes, shared with the speed benchmarks)."""

from __future__ import annotations

import numpy as np
import pytest

from faceveil.eval.scenes import SampleFace, background, collage, load_sample_faces, paste_face  # noqa: F401 (re-exported to tests)
from faceveil.faces.detect import CenterFaceDetector, DetectorConfig
from faceveil.faces.types import Face


@pytest.fixture(scope="session")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector(DetectorConfig())


@pytest.fixture(scope="session")
def samples(detector) -> dict[str, SampleFace]:
    return load_sample_faces(detector)


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
