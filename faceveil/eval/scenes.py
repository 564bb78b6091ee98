"""Generated photos and clips with faces at known boxes, for recall and speed measurements.

A scene face is a sample photo (astronaut, grace_hopper) warped by a similarity transform (scale,
rotation, translation) and blended into a face-free background through a soft ellipse around the face,
so its true box and landmarks are the sample's detected ones mapped by the same transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceveil.testing import load_sample
from faceveil.faces.types import Face


@dataclass(frozen=True)
class SampleFace:
    rgb: np.ndarray  # (H, W, 3) uint8
    face: Face  # the sample's (single, main) face as detected by CenterFace


def load_sample_faces(detector, names=("astronaut", "grace_hopper")) -> dict[str, SampleFace]:
    """Sample photos with their main face as ``detector`` finds it (the geometry scenes are built on)."""
    out = {}
    for name in names:
        rgb = load_sample(name)
        faces = detector.detect(rgb)
        if not faces:
            raise AssertionError(f"the detector must find the {name} sample face")
        out[name] = SampleFace(rgb, max(faces, key=lambda f: f.score))
    return out


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 face-free texture: smooth colour noise plus a gradient."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 215, size=(max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(texture + ramp, 0, 255).astype(np.uint8)


def paste_face(
    canvas: np.ndarray, sample: SampleFace, centre: tuple[float, float], face_width: float, angle: float
) -> tuple[np.ndarray, Face]:
    """Paste ``sample``'s face into a copy of canvas (H, W, 3) with its box centre at ``centre``, box width
    ``face_width`` px, rotated ``angle`` degrees counter-clockwise (as seen). Returns the new canvas and the
    true Face (rotated box's bounding box, mapped landmarks)."""
    x0, y0, x1, y1 = sample.face.box
    src_centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    scale = face_width / (x1 - x0)
    matrix = cv2.getRotationMatrix2D(src_centre, angle, scale)
    matrix[:, 2] += np.asarray(centre) - np.asarray(src_centre)
    h, w = canvas.shape[:2]
    # only the face's neighbourhood is warped and blended: cost grows with the face, not the canvas
    reach = int(max(x1 - x0, y1 - y0) * scale * 1.2) + 4
    cx, cy = int(centre[0]), int(centre[1])
    rx0, ry0, rx1, ry1 = max(0, cx - reach), max(0, cy - reach), min(w, cx + reach), min(h, cy + reach)
    out = canvas.copy()
    if rx1 > rx0 and ry1 > ry0:
        local = matrix.copy()
        local[:, 2] -= (rx0, ry0)
        size = (rx1 - rx0, ry1 - ry0)
        warped = cv2.warpAffine(sample.rgb, local, size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        mask = np.zeros(sample.rgb.shape[:2], np.float32)
        axes = (int((x1 - x0) * 0.75), int((y1 - y0) * 0.75))
        cv2.ellipse(mask, (int(src_centre[0]), int(src_centre[1])), axes, 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), (x1 - x0) * 0.08)
        alpha = cv2.warpAffine(mask, local, size)[..., None]
        region = canvas[ry0:ry1, rx0:rx1]
        out[ry0:ry1, rx0:rx1] = (warped * alpha + region * (1 - alpha) + 0.5).astype(np.uint8)

    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    landmarks = (sample.face.landmarks @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    box = (*mapped.min(axis=0).tolist(), *mapped.max(axis=0).tolist())
    return out, Face(box=tuple(float(v) for v in box), landmarks=landmarks)


def collage(
    samples: dict[str, SampleFace], placements: list[tuple[str, float, float, float, float]], size=(720, 1280), seed=0
) -> tuple[np.ndarray, list[Face]]:
    """Background of ``size`` (H, W) with faces placed as (sample name, cx, cy, width, angle)."""
    canvas = background(*size, seed=seed)
    truths = []
    for name, cx, cy, width, angle in placements:
        canvas, truth = paste_face(canvas, samples[name], (cx, cy), width, angle)
        truths.append(truth)
    return canvas, truths


def grid_placements(size: tuple[int, int], count: int, face_width: float, seed: int = 0) -> list[tuple]:
    """``count`` upright-ish faces of about ``face_width`` px on a jittered grid inside ``size`` (H, W)."""
    height, width = size
    rng = np.random.default_rng(seed)
    cols = max(1, int(np.ceil(np.sqrt(count * width / height))))
    rows = -(-count // cols)
    cell_w, cell_h = width / cols, height / rows
    out = []
    for i in range(count):
        r, c = divmod(i, cols)
        w = min(face_width * rng.uniform(0.8, 1.2), cell_w * 0.6, cell_h * 0.45)
        cx = (c + 0.5) * cell_w + rng.uniform(-0.1, 0.1) * cell_w
        cy = (r + 0.5) * cell_h + rng.uniform(-0.1, 0.1) * cell_h
        out.append(("astronaut" if i % 2 == 0 else "grace_hopper", cx, cy, w, rng.uniform(-15, 15)))
    return out


@dataclass(frozen=True)
class SceneClip:
    frames: list[np.ndarray]  # (H, W, 3) uint8 RGB
    truths: list[list[Face]]  # per frame, the faces present


def moving_clip(
    samples: dict[str, SampleFace], size: tuple[int, int], count: int, *, faces: int = 3, face_width: float = 90,
    seed: int = 0, noise: float = 2.0,
) -> SceneClip:
    """``count`` frames of ``size`` (H, W): ``faces`` faces drifting (up to ~4 px per frame, turning slowly)
    over a scrolling background; one extra face *pops in* at a third of the clip and another leaves at two
    thirds, so a detector that skips frames must still catch faces that appear between its key frames."""
    height, width = size
    rng = np.random.default_rng(seed)
    base = background(height, width + 2 * count, seed=seed)
    tracks = []
    for i, (name, cx, cy, w, angle) in enumerate(grid_placements(size, faces + 1, face_width, seed)):
        velocity = rng.uniform(-4, 4, size=2)
        first, last = (count // 3, count) if i == faces else (0, count if i else 2 * count // 3)
        tracks.append((name, cx, cy, w, angle, velocity, first, last))
    frames, truths = [], []
    for t in range(count):
        canvas = np.ascontiguousarray(base[:, 2 * t : 2 * t + width])
        present = []
        for name, cx, cy, w, angle, velocity, first, last in tracks:
            if first <= t < last:
                x, y = cx + velocity[0] * t, cy + velocity[1] * t
                canvas, truth = paste_face(canvas, samples[name], (x, y), w * (1 + 0.05 * np.sin(t / 6)), angle + 5 * np.sin(t / 9))
                if visible(truth, height, width):
                    present.append(truth)
        if noise > 0:
            canvas = np.clip(canvas + rng.normal(0, noise, canvas.shape), 0, 255).astype(np.uint8)
        frames.append(canvas)
        truths.append(present)
    return SceneClip(frames, truths)


def visible(truth: Face, height: int, width: int) -> bool:
    """At least 3 of the face's 5 landmarks inside the frame (a face mostly out of frame is not counted)."""
    pts = np.asarray(truth.landmarks)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
    return int(inside.sum()) >= 3


def covered(truth: Face, boxes, min_fraction: float = 0.5) -> bool:
    """True when one of ``boxes`` (x0, y0, x1, y1) holds the face's identifying part: every true landmark
    (eyes, nose, mouth corners) inside it, and at least ``min_fraction`` of the true box (the bounding box
    of a rotated face is larger than any detector's upright box, hence not 1)."""
    tx0, ty0, tx1, ty1 = truth.box
    area = max((tx1 - tx0) * (ty1 - ty0), 1e-6)
    pts = np.asarray(truth.landmarks)
    for x0, y0, x1, y1 in boxes:
        inter = max(0.0, min(x1, tx1) - max(x0, tx0)) * max(0.0, min(y1, ty1) - max(y0, ty0))
        inside = np.all((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1))
        if inside and inter / area >= min_fraction:
            return True
    return False


def recall(truths: list[list[Face]], found: list[list[tuple]], min_fraction: float = 0.5) -> float:
    """Fraction of (face, frame) pairs in ``truths`` covered by the boxes ``found`` in the same frame."""
    pairs = [(t, boxes) for frame_truths, boxes in zip(truths, found, strict=True) for t in frame_truths]
    return sum(covered(t, boxes, min_fraction) for t, boxes in pairs) / max(len(pairs), 1)
