"""Issue 24 #5: short low-score tracks (false alarms) are dropped; real faces never are."""

from __future__ import annotations

from faceveil.faces.track import LookaheadTracker, TrackerConfig
from faceveil.faces.types import Face


def face(x: float, score: float, side: float = 60.0) -> Face:
    return Face(box=(x, 100.0, x + side, 100.0 + side), score=score)


def run(tracks: dict[str, tuple[range, float, float]], frames: int, config: TrackerConfig = TrackerConfig()):
    """tracks: name -> (frames it is detected in, score, x); returns, per released frame, the x of each face."""
    tracker: LookaheadTracker[int] = LookaheadTracker(config, lookahead=2)
    out = {}
    for i in range(frames):
        dets = [face(x, score) for span, score, x in tracks.values() if i in span]
        for index, tracked in tracker.push(dets, i):
            out[index] = sorted(round(tf.face.box[0]) for tf in tracked)
    for index, tracked in tracker.flush():
        out[index] = sorted(round(tf.face.box[0]) for tf in tracked)
    assert sorted(out) == list(range(frames))  # every frame comes out, in order
    return out, tracker.stats


def near(xs, x) -> bool:
    return any(abs(v - x) < 30 for v in xs)


def test_a_short_low_score_track_is_dropped_and_a_real_face_kept_in_every_frame():
    out, stats = run({"real": (range(0, 60), 0.9, 100), "false": (range(20, 30), 0.25, 400)}, 60)
    assert all(near(out[i], 100) for i in range(60))
    assert not any(near(out[i], 400) for i in range(60))
    assert stats.dropped_tracks == 1 and stats.dropped_faces >= 10


def test_what_is_kept_low_score_but_long_short_but_confident_and_alive_at_the_end():
    out, stats = run({"long low": (range(0, 40), 0.25, 100), "short sure": (range(10, 15), 0.8, 300),
                      "at the end": (range(55, 60), 0.25, 500)}, 60)
    assert all(near(out[i], 100) for i in range(40))
    assert all(near(out[i], 300) for i in range(10, 15))
    assert all(near(out[i], 500) for i in range(55, 60))  # the video ended: not known to be short
    assert stats.dropped_tracks == 0


def test_frames_wait_at_most_confirm_hold_then_the_track_is_kept():
    """A low-score track longer than the hold: its frames go out anonymized and stay so (no flicker)."""
    config = TrackerConfig(confirm_hits=1000, confirm_hold=5)
    out, stats = run({"low": (range(0, 30), 0.25, 100)}, 40, config)
    assert all(near(out[i], 100) for i in range(30)) and stats.dropped_tracks == 0


def test_the_rule_can_be_switched_off():
    out, stats = run({"false": (range(20, 30), 0.25, 400)}, 60, TrackerConfig(confirm_hits=1))
    assert all(near(out[i], 400) for i in range(20, 30)) and stats.dropped_tracks == 0


def test_small_faces_are_never_dropped():
    """Small real faces score low and their tracks break up (vtest.avi's pedestrians, ~9 px): kept."""
    tracker: LookaheadTracker[int] = LookaheadTracker(TrackerConfig(), lookahead=2)
    out = {}
    for i in range(40):
        dets = [face(200, 0.22, side=12)] if 10 <= i < 14 else []
        for index, tracked in tracker.push(dets, i):
            out[index] = tracked
    for index, tracked in tracker.flush():
        out[index] = tracked
    assert all(len(out[i]) == 1 for i in range(10, 14)) and tracker.stats.dropped_tracks == 0
