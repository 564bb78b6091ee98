"""Face tracking for video: stable track ids, smoothed boxes, bridged detection gaps.

A small IoU tracker with a constant-velocity (alpha-beta) filter per track:

- **association**: detections are matched to the tracks' *predicted* boxes by IoU with an optimal
  assignment (Hungarian, scipy), then leftovers by centre distance (fast motion: boxes that no longer
  overlap); unmatched detections start new tracks.
- **smoothing**: the box follows the detection through an alpha-beta filter, which removes frame-to-
  frame jitter of the obfuscated area (flicker). Because a causal filter lags a moving face, the box we
  report is the union of the smoothed box and the raw detection: smoothing may enlarge the covered
  area but never uncovers part of a detected face. A small dead band then holds the box still while a
  still face only wobbles by sub-pixel amounts.
- **gap bridging**: a track that misses detections keeps being reported at its predicted position
  (marked ``bridged``) for up to ``max_gap`` frames, growing a little per missed frame because its
  position becomes less certain. One missed detection therefore never exposes a face.
- **look-ahead** (:class:`LookaheadTracker`): frames are held back a few frames so a track's first
  box can also be applied to the frames just before its first detection.
- **false alarms** (:class:`LookaheadTracker`): a track is *confirmed* once it has ``confirm_hits``
  detections, or one scoring ``confirm_score``, or one smaller than ``confirm_min_side`` pixels (small
  real faces score low: pedestrians' heads in vtest.avi). A track that ends (is lost) unconfirmed -- a
  short, low-score, face-sized track, as detectors put on table objects during a camera pan -- is
  dropped from every frame still held; frames holding an unconfirmed live track wait (up to ``confirm_hold`` frames, then they go
  out anonymized and the track counts as confirmed, the safe side). Tracks alive when the video ends
  are kept. docs/video.md has the rule and its measurements.

Boxes are (x0, y0, x1, y1) floats in frame pixels. Typical use, one call per frame::

    tracker = FaceTracker()
    for frame in frames:
        tracked = tracker.update(detector.detect(frame))   # list[TrackedFace]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

from faceveil.errors import InputError
from faceveil.faces.types import Face

T = TypeVar("T")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings.

    iou_threshold: minimum IoU between a track's predicted box and a detection to associate them.
    max_center_distance: second chance for detections no track overlaps: match by centre distance up
        to this many box sizes (0 disables), for faces moving faster than their width per frame.
    max_gap: frames a track is still anonymized (at its predicted box) after its last detection.
    alpha: weight of the new detection in the box estimate (1 = no smoothing, raw detections).
    beta: weight of the observed motion in the velocity estimate (0 = no motion model).
    gap_growth: fractional box growth per missed frame (position uncertainty while bridging).
    velocity_decay: velocity multiplier per missed frame, so a lost track does not fly away.
    deadband: the reported box stays put while no edge moves more than this fraction of its size
        (stops region methods from jumping on sub-pixel wobble; 0 disables).
    """

    iou_threshold: float = 0.15
    max_center_distance: float = 1.5
    max_gap: int = 8
    alpha: float = 0.6
    beta: float = 0.3
    gap_growth: float = 0.05
    velocity_decay: float = 0.8
    deadband: float = 0.03
    confirm_hits: int = 12
    confirm_score: float = 0.3
    confirm_min_side: float = 32.0
    confirm_hold: int = 24

    def __post_init__(self) -> None:
        if not 0.0 <= self.iou_threshold < 1.0:
            raise InputError(f"tracker iou_threshold must be in [0, 1), got {self.iou_threshold}")
        if self.max_center_distance < 0:
            raise InputError(f"tracker max_center_distance must be >= 0, got {self.max_center_distance}")
        if self.max_gap < 0:
            raise InputError(f"tracker max_gap must be >= 0, got {self.max_gap}")
        if not 0.0 < self.alpha <= 1.0 or not 0.0 <= self.beta <= 1.0:
            raise InputError(f"tracker alpha must be in (0, 1] and beta in [0, 1], got {self.alpha}, {self.beta}")
        if self.gap_growth < 0 or not 0.0 <= self.velocity_decay <= 1.0:
            raise InputError("tracker gap_growth must be >= 0 and velocity_decay in [0, 1]")
        if not 0.0 <= self.deadband < 0.25:
            raise InputError(f"tracker deadband must be in [0, 0.25), got {self.deadband}")
        if self.confirm_hits < 1 or not 0.0 <= self.confirm_score <= 1.0 or self.confirm_hold < 0:
            raise InputError("tracker confirm_hits must be >= 1, confirm_score in [0, 1], confirm_hold >= 0 "
                             "(confirm_hits 1 or confirm_hold 0: keep every track)")


@dataclass(frozen=True)
class TrackedFace:
    """A face to anonymize in the current frame.

    face: box to cover (smoothed, union with the detection), landmarks, score and ``track_id`` set.
    bridged: True when the detector missed this face in this frame and the box is a prediction.
    """

    face: Face
    bridged: bool

    @property
    def track_id(self) -> int:
        assert self.face.track_id is not None  # always set by FaceTracker (internal invariant)
        return self.face.track_id


@dataclass
class TrackStats:
    """Per-video summary: tracks started, frames containing any face, frames where bridging was used."""

    tracks: int = 0
    frames: int = 0
    frames_with_faces: int = 0
    bridged_frames: int = 0  # frames with at least one bridged face
    bridged_faces: int = 0  # bridged (track, frame) pairs
    backfilled_faces: int = 0  # bridged pairs added before a track's first detection (look-ahead)
    dropped_tracks: int = 0  # unconfirmed short low-score tracks removed (false alarms)
    dropped_faces: int = 0  # (track, frame) pairs they had

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # (4,) float64 smoothed x0, y0, x1, y1
    velocity: np.ndarray  # (4,) float64 per-frame change of box
    landmarks: np.ndarray | None  # (5, 2) float32, last detection's, relative to ``box``'s frame
    landmark_box: np.ndarray  # (4,) box the landmarks were measured in, to move them along
    score: float
    reported: np.ndarray | None = None  # (4,) the box last handed out (dead band reference)
    misses: int = 0
    hits: int = 1
    best_score: float = 0.0
    small: bool = False  # a detection smaller than confirm_min_side: never dropped

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box pair. a: (N, 4), b: (M, 4) as x0, y0, x1, y1 -> (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def center_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between box centres in units of the ``a`` box's size (mean of width and height).
    a: (N, 4), b: (M, 4) -> (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    size = np.maximum(((a[:, 2] - a[:, 0]) + (a[:, 3] - a[:, 1])) / 2, 1e-6)
    return np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1) / size[:, None]


def _size_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """max(area) / min(area) of every box pair, (N, M) >= 1."""
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 1e-6, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 1e-6, None), axis=1)
    return np.maximum(area_a[:, None], area_b[None, :]) / np.minimum(area_a[:, None], area_b[None, :])


def _associate(predicted: np.ndarray, detected: np.ndarray, config: TrackerConfig) -> list[tuple[int, int]]:
    """Optimal one-to-one (track, detection) pairs: first by IoU >= threshold; then, among what is
    left, by centre distance <= ``max_center_distance`` box sizes for boxes of similar size, which
    keeps the identity of a face that moves more than its own width between frames (fast motion,
    low frame rates), where the boxes no longer overlap."""
    if len(predicted) == 0 or len(detected) == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    iou = iou_matrix(predicted, detected)
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= max(config.iou_threshold, 1e-9)]
    free_t = [i for i in range(len(predicted)) if i not in {p[0] for p in pairs}]
    free_d = [j for j in range(len(detected)) if j not in {p[1] for p in pairs}]
    if free_t and free_d and config.max_center_distance > 0:
        dist = center_distance_matrix(predicted[free_t], detected[free_d])
        dist[_size_ratio(predicted[free_t], detected[free_d]) > 2.0] = np.inf  # not the same face
        cost = np.where(np.isfinite(dist), dist, 1e6)
        rows, cols = linear_sum_assignment(cost)
        pairs += [(free_t[r], free_d[c]) for r, c in zip(rows, cols) if dist[r, c] <= config.max_center_distance]
    return pairs


def _grow(box: np.ndarray, fraction: float) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) / 2 * (1 + fraction), (box[3] - box[1]) / 2 * (1 + fraction)
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


def _move_landmarks(landmarks: np.ndarray | None, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Map (5, 2) landmarks measured in box ``src`` into box ``dst`` (same relative position)."""
    if landmarks is None:
        return None
    scale = np.array([(dst[2] - dst[0]) / max(src[2] - src[0], 1e-6), (dst[3] - dst[1]) / max(src[3] - src[1], 1e-6)])
    return ((landmarks - src[:2]) * scale + dst[:2]).astype(np.float32)


class FaceTracker:
    """Turns per-frame detections into tracked faces; see the module docstring. One instance per video."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self.stats = TrackStats()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, detections: Sequence[Face]) -> list[TrackedFace]:
        """Advance one frame with this frame's detections; returns every face to anonymize in it."""
        cfg = self.config
        det_boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        predicted = np.array([t.predicted() for t in self._tracks]).reshape(-1, 4)
        pairs = _associate(predicted, det_boxes, cfg)
        matched_tracks = {ti for ti, _ in pairs}
        matched_dets = {di for _, di in pairs}

        out: list[TrackedFace] = []
        for ti, di in pairs:
            out.append(self._observe(self._tracks[ti], detections[di], det_boxes[di]))
        survivors = []
        for ti, track in enumerate(self._tracks):
            if ti in matched_tracks:
                survivors.append(track)
                continue
            track.misses += 1
            if track.misses > cfg.max_gap:
                continue  # lost: dropped
            out.append(self._bridge(track))
            survivors.append(track)
        for di, det in enumerate(detections):
            if di not in matched_dets:
                track = self._start(det, det_boxes[di])
                survivors.append(track)
                out.append(TrackedFace(replace(det, track_id=track.track_id), bridged=False))
        self._tracks = survivors

        out.sort(key=lambda tf: tf.track_id)
        self.stats.frames += 1
        self.stats.frames_with_faces += bool(out)
        bridged = sum(tf.bridged for tf in out)
        self.stats.bridged_faces += bridged
        self.stats.bridged_frames += bridged > 0
        return out

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def known_ids(self) -> set[int]:
        """Ids of the tracks alive before the next update."""
        return {t.track_id for t in self._tracks}

    def confirmed_ids(self) -> set[int]:
        """Ids of the live tracks with ``confirm_hits`` detections, or one of ``confirm_score``, or a small one."""
        cfg = self.config
        return {t.track_id for t in self._tracks
                if t.hits >= cfg.confirm_hits or t.best_score >= cfg.confirm_score or t.small}

    # -- per-track steps

    def _start(self, det: Face, box: np.ndarray) -> _Track:
        track = _Track(
            track_id=self._next_id,
            box=box.copy(),
            velocity=np.zeros(4),
            landmarks=None if det.landmarks is None else np.asarray(det.landmarks, dtype=np.float32),
            landmark_box=box.copy(),
            score=float(det.score),
            reported=box.copy(),
            best_score=float(det.score),
            small=min(det.width, det.height) < self.config.confirm_min_side,
        )
        self._next_id += 1
        self.stats.tracks += 1
        return track

    def _observe(self, track: _Track, det: Face, box: np.ndarray) -> TrackedFace:
        cfg = self.config
        predicted = track.predicted()
        residual = box - predicted
        track.box = predicted + cfg.alpha * residual
        # velocity learns from the innovation; after a gap the innovation spans several frames
        track.velocity = track.velocity + cfg.beta * residual / (track.misses + 1)
        track.misses, track.hits = 0, track.hits + 1
        track.landmarks = None if det.landmarks is None else np.asarray(det.landmarks, dtype=np.float32)
        track.landmark_box = box.copy()
        track.score = float(det.score)
        track.best_score = max(track.best_score, track.score)
        track.small = track.small or min(det.width, det.height) < cfg.confirm_min_side
        cover = np.concatenate([np.minimum(track.box[:2], box[:2]), np.maximum(track.box[2:], box[2:])])
        # Dead band: sub-pixel wobble of a still face would still move the integer pixel region now
        # and then, and region methods (mosaic cells, pixelate blocks) then jump visibly: keep the
        # previous box while no edge moves more than `deadband` of the box size. The region the
        # methods cover has a margin far wider than that band, so the face stays covered.
        size = max(float(np.mean(cover[2:] - cover[:2])), 1.0)
        if track.reported is not None and np.all(np.abs(cover - track.reported) <= cfg.deadband * size):
            cover = track.reported
        track.reported = cover
        face = Face(box=tuple(float(v) for v in cover), landmarks=track.landmarks, score=track.score, track_id=track.track_id)
        return TrackedFace(face, bridged=False)

    def _bridge(self, track: _Track) -> TrackedFace:
        cfg = self.config
        track.box = track.predicted()
        track.velocity = track.velocity * cfg.velocity_decay
        cover = _grow(track.box, cfg.gap_growth * track.misses)
        track.reported = cover
        landmarks = _move_landmarks(track.landmarks, track.landmark_box, track.box)
        face = Face(box=tuple(float(v) for v in cover), landmarks=landmarks, score=track.score, track_id=track.track_id)
        return TrackedFace(face, bridged=True)


class LookaheadTracker(Generic[T]):
    """A :class:`FaceTracker` that holds frames back for ``lookahead`` frames so new tracks can be
    back-filled: when a face is first detected at frame t, it is also anonymized (marked bridged, at
    its first box, grown like a bridged box) in the up to ``lookahead`` held frames before t. A face
    whose first detection comes late therefore does not flash visible in the frames just before.

    ``push`` takes a frame's detections and any item (the frame itself) and returns the frames that
    leave the buffer, in order, with their final face lists; ``flush`` releases the rest.
    Memory: ``lookahead`` items.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig(), lookahead: int = 2) -> None:
        if lookahead < 0:
            raise InputError(f"lookahead must be >= 0 frames, got {lookahead}")
        self.tracker = FaceTracker(config)
        self.lookahead = lookahead
        self._held: deque[tuple[T, list[TrackedFace]]] = deque()
        self._confirmed: set[int] = set()
        self._filtering = config.confirm_hits > 1 and config.confirm_hold > 0

    @property
    def stats(self) -> TrackStats:
        return self.tracker.stats

    def push(self, detections: Sequence[Face], item: T) -> list[tuple[T, list[TrackedFace]]]:
        known = self.tracker.known_ids()
        tracked = self.tracker.update(detections)
        for tf in tracked:
            if tf.track_id not in known:
                self._backfill(tf)
        self._held.append((item, tracked))
        if not self._filtering:
            released = []
            while len(self._held) > self.lookahead:
                released.append(self._held.popleft())
            return released
        self._confirmed |= self.tracker.confirmed_ids()
        lost = known - self.tracker.known_ids() - self._confirmed
        if lost:
            self._drop(lost)
        pending = self.tracker.known_ids() - self._confirmed  # live, not yet confirmed: wait for them
        released = []
        while len(self._held) > self.lookahead:
            faces = self._held[0][1]
            if len(self._held) <= self.lookahead + self.config_hold and any(tf.track_id in pending for tf in faces):
                break
            self._confirmed |= {tf.track_id for tf in faces}  # out anonymized: never dropped later (no flicker)
            released.append(self._held.popleft())
        return released

    @property
    def config_hold(self) -> int:
        return self.tracker.config.confirm_hold

    def _drop(self, track_ids: set[int]) -> None:
        """Remove tracks that ended unconfirmed from every held frame."""
        stats = self.tracker.stats
        stats.dropped_tracks += len(track_ids)
        for _, faces in self._held:
            before = len(faces)
            faces[:] = [tf for tf in faces if tf.track_id not in track_ids]
            stats.dropped_faces += before - len(faces)

    def flush(self) -> list[tuple[T, list[TrackedFace]]]:
        released = list(self._held)
        self._held.clear()
        return released

    def _backfill(self, new: TrackedFace) -> None:
        box = np.array(new.face.box, dtype=np.float64)
        stats = self.tracker.stats
        for distance, (_, faces) in enumerate(reversed(self._held), start=1):
            grown = _grow(box, self.tracker.config.gap_growth * distance)
            face = replace(new.face, box=tuple(float(v) for v in grown))
            stats.frames_with_faces += not faces
            stats.bridged_frames += not any(tf.bridged for tf in faces)
            stats.bridged_faces += 1
            stats.backfilled_faces += 1
            faces.append(TrackedFace(face, bridged=True))
            faces.sort(key=lambda tf: tf.track_id)


__all__ = ["FaceTracker", "LookaheadTracker", "TrackStats", "TrackedFace", "TrackerConfig", "center_distance_matrix", "iou_matrix"]
