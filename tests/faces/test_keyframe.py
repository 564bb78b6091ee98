"""Key-frame detection (faceveil.faces.keyframe): cheaper than detecting every frame, and every face the
per-frame detector covers stays covered, including faces that appear between key frames."""

from __future__ import annotations

import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.eval.scenes import collage, moving_clip, recall
from faceveil.faces.keyframe import KeyframeConfig, KeyframeDetector, required_lookahead
from faceveil.faces.track import LookaheadTracker


def tracked_boxes(frames, detector, every):
    keyed = KeyframeDetector(detector, KeyframeConfig(every=every))
    tracker = LookaheadTracker(lookahead=required_lookahead(keyed.config))
    released = []
    for i, rgb in enumerate(frames):
        released += tracker.push(keyed.detect(rgb), i)
    released += tracker.flush()
    assert [i for i, _ in released] == list(range(len(frames)))
    return [[tf.face.box for tf in faces] for _, faces in released], keyed.stats


@pytest.fixture(scope="module")
def clip(samples):
    # 960x540, 3 drifting faces (~60 px) + one popping in at frame 4 and one leaving at frame 8
    return moving_clip(samples, (540, 960), 12, faces=3, face_width=60, seed=1)


def test_key_frames_cover_every_face_frame_the_per_frame_detector_covers(clip, detector):
    reference = [detector.detect(rgb) for rgb in clip.frames]
    per_frame = recall(clip.truths, [[f.box for f in faces] for faces in reference])
    boxes, stats = tracked_boxes(clip.frames, detector, every=3)
    assert per_frame == 1.0
    assert recall(clip.truths, boxes) == 1.0  # the popping-in face too: back-filled by the look-ahead
    assert recall(reference, boxes) == 1.0
    assert stats.frames == 12 and stats.full_passes <= 6 and stats.window_passes > 0


def test_face_popping_in_between_key_frames_is_covered_from_its_first_frame(clip, detector):
    first = next(t for t, truths in enumerate(clip.truths) if len(truths) == 4)
    assert first % 3 != 0, "the scene must make the new face appear between key frames"
    boxes, _ = tracked_boxes(clip.frames, detector, every=3)
    assert recall(clip.truths[first:first + 3], boxes[first:first + 3]) == 1.0


def test_a_window_that_loses_its_face_forces_a_full_pass(samples, detector):
    # the face jumps farther than the window margin: the next frame must not wait for a key frame
    a, _ = collage(samples, [("astronaut", 120, 240, 80, 0)], size=(480, 960))
    b, truths = collage(samples, [("astronaut", 820, 240, 80, 0)], size=(480, 960))
    keyed = KeyframeDetector(detector, KeyframeConfig(every=3))
    keyed.detect(a)
    found = keyed.detect(b)
    assert keyed.stats.full_passes == 2 and keyed.stats.window_passes == 1
    assert recall([truths], [[f.box for f in found]]) == 1.0


def test_window_boxes_agree_with_full_pass_boxes_for_a_still_face(samples, detector):
    image, _ = collage(samples, [("grace_hopper", 300, 240, 90, 0), ("astronaut", 900, 400, 100, 5)], size=(720, 1280))
    keyed = KeyframeDetector(detector, KeyframeConfig(every=3))
    full = keyed.detect(image)
    windowed = keyed.detect(image)
    assert keyed.stats.window_passes == 2
    assert len(windowed) == len(full) == 2
    for f in full:
        nearest = min(windowed, key=lambda w: np.abs(np.subtract(w.box, f.box)).sum())
        # same sampling grid: edges agree within 1 % of the face size, well inside the tracker's 3 % dead
        # band, so the obfuscated region does not jump between key frames and windows
        assert np.abs(np.subtract(nearest.box, f.box)).max() < 0.01 * f.width


def test_every_one_is_the_plain_detector(clip, detector):
    keyed = KeyframeDetector(detector, KeyframeConfig(every=1))
    for rgb in clip.frames[:3]:
        assert keyed.detect(rgb) == detector.detect(rgb)
    assert keyed.stats.window_passes == 0


def test_config_errors():
    for bad in ({"every": 0}, {"margin": 0.1}, {"roi_face_px": 8}, {"max_window_cost": 0}):
        with pytest.raises(InputError):
            KeyframeConfig(**bad)
    assert required_lookahead(KeyframeConfig(every=3)) == 2
