"""Videos in ``faceveil review``: the tracks the anonymize pipeline would form, each shown on a key frame
(its most confident detection), with its box in every frame it was detected in, so a keep / ignore
decision is written as per-frame boxes that a re-run's detections match (docs/review.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceveil.faces.track import LookaheadTracker
from faceveil.io.video import iter_frames, probe_video, to_display
from faceveil.pipeline.video import VideoOptions, _keyframe_hook


def video_tracks(src: Path, detector) -> dict:
    """{"kind": "video", "width", "height", "frames": key frames, "faces": one per track}."""
    options = VideoOptions()
    info = probe_video(src)
    hooked = _keyframe_hook(detector, min(options.detect_every, options.lookahead + 1))
    tracker: LookaheadTracker[int] = LookaheadTracker(options.tracker, options.lookahead)
    tracks: dict[int, dict] = {}

    def observe(released) -> None:
        for index, tracked in released:
            for tf in tracked:
                t = tracks.setdefault(tf.track_id, {"track_id": tf.track_id, "frames": [], "score": 0.0, "detected": True})
                box = [round(float(v), 1) for v in tf.face.box]
                t["frames"].append({"frame": index, "box": box})
                if not tf.bridged and tf.face.score > t["score"]:
                    t.update(score=round(float(tf.face.score), 3), box=box, frame=index)

    shape = None
    for frame in iter_frames(src):
        upright = to_display(frame.rgb, info.rotation)
        shape = upright.shape
        observe(tracker.push(hooked.detect(upright), frame.index))
    observe(tracker.flush())
    faces = [t for t in tracks.values() if "box" in t]
    height, width = (shape[0], shape[1]) if shape is not None else (0, 0)
    return {"kind": "video", "width": width, "height": height,
            "frames": sorted({t["frame"] for t in faces}) or [0], "faces": faces}


def read_frame(src: Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``src``, upright."""
    info = probe_video(src)
    last = None
    for frame in iter_frames(src):
        last = frame
        if frame.index >= index:
            break
    if last is None:
        return np.zeros((16, 16, 3), np.uint8)
    return to_display(last.rgb, info.rotation)
