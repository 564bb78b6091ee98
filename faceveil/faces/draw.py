"""Detection overlays for checking before committing (``--preview``) and for ``--draw-boxes``: each face's
box, score and track id, optionally its landmarks and the exact mask outline a method will replace.

Colours: detections green, faces imported with ``--boxes`` orange, so a preview shows which boxes a person
added. Line width and text size scale with the image, so the overlay reads the same on a 320 px thumbnail
and on a 4K frame.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import cv2
import numpy as np

from faceveil.faces.align import check_rgb_image, face_landmarks
from faceveil.faces.mask import MaskSpec
from faceveil.faces.types import Face

DETECTED_COLOUR = (0, 220, 0)
IMPORTED_COLOUR = (255, 140, 0)
MASK_COLOUR = (255, 255, 0)


def face_label(face: Face, *, scores: bool = True, track_ids: bool = True) -> str:
    """``"#3 0.87"``: track id (video) and score, as drawn next to the box."""
    parts = []
    if track_ids and face.track_id is not None:
        parts.append(f"#{face.track_id}")
    if scores:
        parts.append(f"{face.score:.2f}")
    return " ".join(parts)


def draw_faces(
    rgb: np.ndarray,
    faces: Sequence[Face],
    *,
    scores: bool = True,
    track_ids: bool = True,
    landmarks: bool = False,
    imported: Collection[int] = (),
    mask: MaskSpec | None = None,
) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3) uint8 with every face's box and label drawn on it.

    imported: indices of faces that came from a boxes file (drawn in IMPORTED_COLOUR).
    mask: also outline the region the method will replace (box or ellipse, at the mask's scale).
    """
    check_rgb_image(rgb)
    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    thickness = max(1, round(max(h, w) / 400))
    font_scale = max(0.4, max(h, w) / 1600)
    for i, face in enumerate(faces):
        colour = IMPORTED_COLOUR if i in imported else DETECTED_COLOUR
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_8)  # crisp: exact colour
        if mask is not None:
            left, top, right, bottom = mask.bounds(face)
            if mask.shape == "ellipse":
                centre = (int(round((left + right) / 2)), int(round((top + bottom) / 2)))
                axes = (max(1, int(round((right - left) / 2))), max(1, int(round((bottom - top) / 2))))
                cv2.ellipse(out, centre, axes, 0, 0, 360, MASK_COLOUR, thickness, cv2.LINE_AA)
            else:
                cv2.rectangle(out, (int(left), int(top)), (int(right), int(bottom)), MASK_COLOUR, thickness, cv2.LINE_AA)
        if landmarks and face.landmarks is not None:
            for x, y in face_landmarks(face):
                cv2.circle(out, (int(round(x)), int(round(y))), thickness + 1, colour, -1, cv2.LINE_AA)
        label = face_label(face, scores=scores, track_ids=track_ids)
        if label:
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
            # above the box, or inside its top edge when the box touches the image top
            ty = y0 - base - thickness if y0 - th - base - thickness >= 0 else y0 + th + thickness
            tx = min(max(0, x0), max(0, w - tw))
            cv2.rectangle(out, (tx, ty - th - 1), (tx + tw, ty + base), colour, -1)
            cv2.putText(out, label, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return out
