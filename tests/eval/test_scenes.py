"""Generated scenes with known faces (faceveil.eval.scenes): what "covered" and "recall" mean."""

from __future__ import annotations

import numpy as np
import pytest

from faceveil.eval.scenes import collage, covered, grid_placements, load_sample_faces, moving_clip, recall
from faceveil.faces.detect import CenterFaceDetector


@pytest.fixture(scope="module")
def samples():
    return load_sample_faces(CenterFaceDetector())


def test_covered_needs_every_landmark_inside_one_box(samples):
    _, [truth] = collage(samples, [("astronaut", 300, 300, 120, 0)], size=(600, 600))
    x0, y0, x1, y1 = truth.box
    assert covered(truth, [truth.box])
    assert not covered(truth, [(x0, y0, (x0 + x1) / 2, y1)])  # half the face: one eye and mouth corner out
    assert not covered(truth, [(0, 0, 10, 10), (500, 500, 600, 600)])
    assert covered(truth, [(0, 0, 10, 10), (x0 - 20, y0 - 20, x1 + 20, y1 + 20)])
    assert recall([[truth], []], [[truth.box], []]) == 1.0
    assert recall([[truth], [truth]], [[truth.box], []]) == 0.5


def test_grid_places_the_requested_faces_inside_the_image(samples):
    placements = grid_placements((1080, 1920), 30, 150, seed=2)
    assert len(placements) == 30
    image, truths = collage(samples, placements, size=(1080, 1920), seed=2)
    assert image.shape == (1080, 1920, 3) and len(truths) == 30
    assert all(0 <= (t.box[0] + t.box[2]) / 2 < 1920 and 0 <= (t.box[1] + t.box[3]) / 2 < 1080 for t in truths)


def test_moving_clip_has_a_face_popping_in_and_one_leaving(samples):
    clip = moving_clip(samples, (360, 640), 9, faces=2, face_width=60, seed=0)
    counts = [len(t) for t in clip.truths]
    assert len(clip.frames) == 9 and clip.frames[0].shape == (360, 640, 3)
    assert counts[:3] == [2, 2, 2] and counts[3:6] == [3, 3, 3] and counts[6:] == [2, 2, 2]
    assert not np.array_equal(clip.frames[0], clip.frames[1])  # the background scrolls
