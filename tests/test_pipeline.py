"""faceveil.pipeline: frame anonymization, aligned-method paste-back, fallback, exact region bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from faceveil.crypto.envelope import ContentKey
from faceveil.faces.types import Face
from faceveil.methods.base import AnonymizationMethod, FaceContext, PixelRecoverableMethod, create_method
from faceveil.pipeline import anonymize_frame, changed_regions, face_contexts, recover_frame_from_pixels, restore_regions


class InvertAligned(PixelRecoverableMethod):
    """Test double for a learned method: works on aligned crops and is exactly invertible."""

    name = "test-invert"
    space = "aligned"
    min_eye_distance = 10.0

    def anonymize(self, crops, contexts):
        return [255 - c for c in crops]

    def recover(self, crops, contexts):
        return [255 - c for c in crops]


class TooPickyAligned(InvertAligned):
    name = "test-picky"
    min_eye_distance = 10_000.0  # every real face is "too small" for it


def test_classical_frame_changes_only_the_face_region(astronaut, detector):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    method = create_method("mosaic")
    result = anonymize_frame(astronaut, faces, method, face_contexts(faces, ContentKey.generate()))
    (outcome,) = result.outcomes
    x, y, w, h = outcome.rect
    # the rectangle covers the detected face box
    x0, y0, x1, y1 = faces[0].box
    assert x <= x0 + 1 and y <= y0 + 1 and x + w >= x1 - 1 and y + h >= y1 - 1
    diff = np.any(result.rgb != astronaut, axis=-1)
    assert diff[y : y + h, x : x + w].mean() > 0.5  # most of the face region changed
    diff[y : y + h, x : x + w] = False
    assert not diff.any()  # nothing outside it did


def test_aligned_method_is_pasted_back_and_regions_restore_exactly(astronaut, detector):
    faces = detector.detect(astronaut)
    result = anonymize_frame(astronaut, faces, InvertAligned(), face_contexts(faces, ContentKey.generate()))
    assert result.outcomes[0].method == "test-invert"
    assert result.outcomes[0].fallback_reason is None
    regions = changed_regions(astronaut, result.rgb, [o.rect for o in result.outcomes])
    assert len(regions) == 1  # paste_back's rectangle covers every changed pixel
    assert np.array_equal(restore_regions(result.rgb, regions), astronaut)


def test_from_pixels_recovery_uses_recorded_landmarks(astronaut, detector):
    faces = detector.detect(astronaut)
    ctx = face_contexts(faces, ContentKey.generate())
    anonymized = anonymize_frame(astronaut, faces, InvertAligned(), ctx).rgb
    recovered = recover_frame_from_pixels(anonymized, faces, InvertAligned(), ctx)
    x, y, w, h = (int(v) for v in (faces[0].box[0], faces[0].box[1], faces[0].width, faces[0].height))
    err = np.abs(recovered[y : y + h, x : x + w].astype(int) - astronaut[y : y + h, x : x + w]).mean()
    assert err < 6  # two resamplings, not bit-exact, but the face is back
    assert np.abs(anonymized[y : y + h, x : x + w].astype(int) - astronaut[y : y + h, x : x + w]).mean() > 40


def test_faces_too_small_for_a_model_get_the_fallback_and_say_so(astronaut, detector):
    faces = detector.detect(astronaut)
    result = anonymize_frame(astronaut, faces, TooPickyAligned(), face_contexts(faces, None))
    (outcome,) = result.outcomes
    assert outcome.method == "mosaic"
    assert "too small" in outcome.fallback_reason
    assert not np.array_equal(result.rgb, astronaut)


def test_face_without_landmarks_falls_back(astronaut):
    face = Face(box=(180.0, 20.0, 280.0, 140.0), landmarks=None, score=0.9)
    result = anonymize_frame(astronaut, [face], InvertAligned(), face_contexts([face], None))
    assert result.outcomes[0].fallback_reason == "no landmarks"


def test_changed_regions_catches_changes_outside_the_declared_rects():
    original = np.zeros((40, 50, 3), np.uint8)
    modified = original.copy()
    modified[5:10, 5:10] = 200
    modified[30, 45] = 1  # a stray change the method did not declare
    regions = changed_regions(original, modified, [(5, 5, 5, 5)])
    assert len(regions) == 2
    assert np.array_equal(restore_regions(modified, regions), original)


def test_face_contexts_secrets_differ_per_face_and_repeat_per_key():
    key = ContentKey.generate()
    faces = [Face((0, 0, 10, 10)), Face((20, 0, 30, 10))]
    a, b = face_contexts(faces, key)
    assert a.derive_secret("x", 16) != b.derive_secret("x", 16)
    assert a.seed != b.seed
    again = face_contexts(faces, key)
    assert again[0].derive_secret("x", 16) == a.derive_secret("x", 16) and again[0].seed == a.seed
    other = face_contexts(faces, ContentKey.generate())
    assert other[0].derive_secret("x", 16) != a.derive_secret("x", 16)


def test_anonymize_frame_rejects_wrong_layout():
    with pytest.raises(ValueError):
        anonymize_frame(np.zeros((10, 10), np.uint8), [], create_method("mosaic"), [])
