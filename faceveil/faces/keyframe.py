"""Key-frame detection for video: the full detector every ``every`` frames, a cheap re-detection around
the known faces in between.

Per-frame full-resolution detection dominates video cost (CenterFace on a 720p frame is ~20x the rest
of the classical pipeline). Faces move little between frames, so between key frames each known face
is re-detected in a small window around its last box, downscaled so the face is ``roi_face_px`` wide
in network pixels: a 300 px face in a 720p frame then costs a 384x384 pass, ~1/6 of the full frame
(faces up to ``roi_face_px`` wide are scanned at full resolution, so their boxes match the key
frames' and the obfuscated region does not jump).
The re-detection returns real boxes and landmarks (not a prediction), so moving faces stay covered
and aligned (learned) methods keep accurate landmarks.

What the windows cannot see is a *new* face appearing between key frames: the next key frame (at most
``every - 1`` frames later) finds it, and :class:`faceveil.faces.track.LookaheadTracker` back-fills
its first box over the held frames. Coverage of every frame therefore needs
``lookahead >= every - 1`` (:func:`required_lookahead`); the video pipeline's default look-ahead of
2 frames allows ``every = 3``.

When a window loses its face (it moved farther than ``margin`` box sizes in one frame, left the
frame or is occluded) or the face reaches the window's edge (only part of it is inside), that frame gets a full detection at once, so a known face is never lost until
the next key frame. When the windows together would cost more than ``max_window_cost`` of a full
pass (many or very large faces), the frame gets a full detection instead, so the wrapper is never
much slower than the detector it wraps.

Use one instance per video (it keeps the last faces)::

    detector = KeyframeDetector(create_detector("centerface"), KeyframeConfig(every=3))
    tracker = LookaheadTracker(lookahead=required_lookahead(detector.config))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from faceveil.errors import InputError
from faceveil.faces.detect import FaceDetector, non_max_suppression
from faceveil.faces.types import Face


@dataclass(frozen=True)
class KeyframeConfig:
    """every: full detection on every ``every``-th frame (1 = every frame, the wrapper is a no-op).
    margin: the window around a known face reaches ``margin`` box sizes past each edge (the motion
        between two frames it tolerates; 0.5 = a face moving half its width per frame; farther -> full pass).
    roi_face_px: width in network pixels the known face is scaled to in its window (the detector
        is reliable from ~48 px).
    max_window_cost: windows costing more than this fraction of a full pass -> full pass instead.
    """

    every: int = 3
    margin: float = 0.5
    roi_face_px: int = 128
    max_window_cost: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.every <= 64:
            raise InputError(f"key-frame interval must be in [1, 64] frames, got {self.every}")
        if not 0.25 <= self.margin <= 4:
            raise InputError(f"key-frame window margin must be in [0.25, 4] box sizes, got {self.margin}")
        if not 32 <= self.roi_face_px <= 256:
            raise InputError(f"roi_face_px must be in [32, 256], got {self.roi_face_px}")
        if not 0 < self.max_window_cost <= 1:
            raise InputError(f"max_window_cost must be in (0, 1], got {self.max_window_cost}")


def required_lookahead(config: KeyframeConfig) -> int:
    """Frames the look-ahead tracker must hold back so a face appearing between key frames is covered
    from its first frame."""
    return config.every - 1


@dataclass
class KeyframeStats:
    frames: int = 0
    full_passes: int = 0
    window_passes: int = 0


@dataclass
class KeyframeDetector:
    """A stateful :class:`FaceDetector` for one video; wraps any detector. The cheap windows use the
    detector's ``detect_at(rgb, scale)`` when it has one (CenterFace), else ``detect`` on a resized
    crop."""

    detector: FaceDetector
    config: KeyframeConfig = KeyframeConfig()
    stats: KeyframeStats = field(default_factory=KeyframeStats)
    _known: list[Face] = field(default_factory=list, repr=False)
    _since_key: int = field(default=0, repr=False)

    @property
    def name(self) -> str:
        return f"{self.detector.name}+keyframes/{self.config.every}"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        self.stats.frames += 1
        key = self.stats.frames == 1 or self._since_key + 1 >= self.config.every
        windows = [] if key else self._windows(rgb.shape[0], rgb.shape[1])
        faces = None if key or windows is None else self._detect_windows(rgb, windows)
        if faces is None:
            faces = self.detector.detect(rgb)
            self.stats.full_passes += 1
            self._since_key = 0
        else:
            self._since_key += 1
        self._known = faces
        return faces

    def reset(self) -> None:
        """Forget the known faces (next frame is a key frame): call between videos."""
        self._known, self._since_key, self.stats = [], 0, KeyframeStats()

    def _windows(self, height: int, width: int) -> list[tuple[int, int, int, int, float]] | None:
        """(x0, y0, x1, y1, scale) around each known face; None when a full pass is cheaper."""
        cfg = self.config
        out, cost = [], 0.0
        for face in self._known:
            size = max(face.width, face.height, 1.0)
            grow = cfg.margin * size
            # origin on the network's 32 px grid: at scale 1 the window then sees the face on the same
            # sampling grid as the full pass, so boxes agree to float rounding (no region jumps)
            x0, y0 = (max(0, int(face.box[0] - grow)) // 32) * 32, (max(0, int(face.box[1] - grow)) // 32) * 32
            x1, y1 = min(width, int(np.ceil(face.box[2] + grow))), min(height, int(np.ceil(face.box[3] + grow)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue  # the face left the frame
            scale = min(1.0, cfg.roi_face_px / max(face.width, 1.0))
            cost += (x1 - x0) * (y1 - y0) * scale * scale
            out.append((x0, y0, x1, y1, scale))
        return None if cost > cfg.max_window_cost * height * width else out

    def _detect_windows(self, rgb: np.ndarray, windows) -> list[Face] | None:
        """Faces found in the windows; None as soon as a window loses its face (it moved farther than
        the margin, left the frame or is occluded) or holds only part of one (cut by the window edge):
        the frame then gets a full pass, so a face is never lost until the next key frame."""
        found: list[Face] = []
        detect_at = getattr(self.detector, "detect_at", None)
        for x0, y0, x1, y1, scale in windows:
            crop = rgb[y0:y1, x0:x1]
            if detect_at is not None:
                faces, back = detect_at(crop, scale), 1.0
            else:
                small = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                                   interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
                faces, back = self.detector.detect(small), 1.0 / scale
            self.stats.window_passes += 1
            if not faces or any(_cut(f, back, x0, y0, x1, y1, rgb.shape) for f in faces):
                return None
            found += [_shift(f, back, x0, y0) for f in faces]
        if len(found) < 2:
            return found
        # neighbouring windows overlap: the same face may be found twice
        boxes = np.array([f.box for f in found], np.float32)
        keep = non_max_suppression(boxes, np.array([f.score for f in found], np.float32), 0.3)
        return [found[i] for i in keep]


def _cut(face: Face, scale: float, x0: int, y0: int, x1: int, y1: int, shape) -> bool:
    """True when the face (window coordinates) reaches a window edge inside the frame: the window then
    holds only part of it (the face moved fast), and a partial box must not stand in for the face."""
    bx0, by0, bx1, by1 = (v * scale for v in face.box)
    height, width = shape[:2]
    edge = 2.0
    return ((x0 > 0 and bx0 <= edge) or (y0 > 0 and by0 <= edge)
            or (x1 < width and bx1 >= x1 - x0 - edge) or (y1 < height and by1 >= y1 - y0 - edge))


def _shift(face: Face, scale: float, dx: float, dy: float) -> Face:
    box = tuple(float(v * scale + d) for v, d in zip(face.box, (dx, dy, dx, dy)))
    landmarks = None if face.landmarks is None else (face.landmarks * scale + np.float32([dx, dy])).astype(np.float32)
    return Face(box=box, landmarks=landmarks, score=face.score)


__all__ = ["KeyframeConfig", "KeyframeDetector", "KeyframeStats", "required_lookahead"]
