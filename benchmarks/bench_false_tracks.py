"""Video false alarms (issue 24 #5): what dropping unconfirmed short low-score tracks removes, and that it
loses no face.

    .venv/bin/python benchmarks/bench_false_tracks.py [--frames 150] [--faces ~/.cache/faceveil-dev-faces]

Per clip, the boxes the video pipeline anonymizes (CenterFace, key frames every 3, look-ahead tracker; as
bench_speed.py's recall) with the rule (default TrackerConfig) and without it (confirm_hits=1):
tracks, dropped tracks and face-frames, and recall against the true faces (the generated clip of
bench_speed.py: 3 moving faces + one popping in and one leaving) or against the rule-free boxes (real
clips from the dev-face cache, where no ground truth exists: any face-frame the rule removes shows up as
recall below 1 there, and is then a real face only if the table's dropped tracks were faces).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from faceveil.eval.scenes import moving_clip, recall
from faceveil.faces.detect import CenterFaceDetector
from faceveil.faces.keyframe import KeyframeConfig, KeyframeDetector, required_lookahead
from faceveil.faces.track import LookaheadTracker, TrackerConfig
from faceveil.io.video import iter_frames

CLIPS = ("single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4", "vtest.avi", "Megamind.avi",
         "WolfgangLanger_Pexels.mp4")


def boxes(frames, detector, config: TrackerConfig):
    keyed = KeyframeDetector(detector, KeyframeConfig(every=3))
    tracker = LookaheadTracker(config, lookahead=max(2, required_lookahead(KeyframeConfig(every=3))))
    released = []
    for i, rgb in enumerate(frames):
        released += tracker.push(keyed.detect(rgb), i)
    released += tracker.flush()
    released.sort(key=lambda r: r[0])
    return [[tf.face.box for tf in faces] for _, faces in released], tracker.stats


def kept_fraction(reference, found) -> float:
    """Fraction of the rule-free boxes that the rule's boxes still cover (a box with IoU > 0.5)."""
    from faceveil.faces.boxes import box_iou

    pairs = [(r, f) for ref, fnd in zip(reference, found, strict=True) for r in ref for f in [fnd]]
    return sum(any(box_iou(r, b) > 0.5 for b in f) for r, f in pairs) / max(len(pairs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per clip (from the start)")
    parser.add_argument("--faces", type=Path, default=Path.home() / ".cache" / "faceveil-dev-faces")
    args = parser.parse_args()
    detector = CenterFaceDetector()
    rule, off = TrackerConfig(), replace(TrackerConfig(), confirm_hits=1)
    print(f"rule: a track that ends with < {rule.confirm_hits} detections, none scoring >= {rule.confirm_score} and none "
          f"smaller than {rule.confirm_min_side:g} px is dropped (frames wait up to {rule.confirm_hold} frames)\n")
    print("| clip | frames | tracks | dropped tracks | dropped face-frames | recall with the rule |")
    print("|---|---|---|---|---|---|")
    from benchmarks.bench_speed import sample_faces

    clip = moving_clip(sample_faces(), (720, 1280), args.frames, faces=3, face_width=110, seed=3)
    found, stats = boxes(clip.frames, detector, rule)
    print(f"| generated 720p (bench_speed.py) | {len(clip.frames)} | {stats.tracks} | {stats.dropped_tracks} | "
          f"{stats.dropped_faces} | {recall(clip.truths, found):.3f} vs true faces |")
    for name in CLIPS:
        path = args.faces / name
        if not path.exists():
            continue
        frames = []
        for frame in iter_frames(path):
            frames.append(frame.rgb)
            if len(frames) >= args.frames:
                break
        reference, _ = boxes(frames, detector, off)
        found, stats = boxes(frames, detector, rule)
        kept = f"{kept_fraction(reference, found):.3f}" if any(reference) else "– (no box)"
        print(f"| {name} | {len(frames)} | {stats.tracks} | {stats.dropped_tracks} | {stats.dropped_faces} | "
              f"{kept} vs rule-free boxes |")


if __name__ == "__main__":
    main()
