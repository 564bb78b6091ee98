"""g2face through faceveil's whole-photo pipeline: detect -> align 256 px -> g2face -> paste back."""

import numpy as np
import pytest
import torch

from faceveil.testing import load_sample
from faceveil.faces.detect import CenterFaceDetector
from faceveil.methods.g2face.method import G2FaceMethod
from faceveil.pipeline import anonymize_frame, face_contexts, recover_frame_from_pixels

from .small import small_engine

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def scene():
    rgb = load_sample("astronaut")
    faces = CenterFaceDetector().detect(rgb)
    assert faces and faces[0].landmarks is not None
    return rgb, faces[:1]


def test_pipeline_replaces_only_the_face_region(scene):
    rgb, faces = scene
    method = G2FaceMethod(payload_mode="paper", engine=small_engine())
    contexts = face_contexts(faces, None, seeds=[11])
    result = anonymize_frame(rgb, faces, method, contexts)
    assert result.outcomes[0].method == "g2face"
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    changed = np.abs(result.rgb.astype(int) - rgb.astype(int)).sum(-1) > 0
    assert changed[y0:y1, x0:x1].mean() > 0.5  # the face itself is replaced
    x, y, w, h = result.outcomes[0].rect  # pasted rectangle reported by the pipeline
    outside = changed.copy()
    outside[y : y + h, x : x + w] = False
    assert not outside.any()
    back = recover_frame_from_pixels(result.rgb, faces, method, contexts)
    assert back.shape == rgb.shape and back.dtype == np.uint8
