"""Which faces are anonymized and how it looks, shared by photos and videos: the mask (shape, scale),
faces imported from a boxes file, and the detection overlays (``--preview``, ``--draw-boxes``).

One typed bundle so the photo and video pipelines read the same choices, and so ``faceveil.api`` passes
one argument instead of four.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from faceveil.faces.boxes import ImportedBoxes, MergedFaces, merge_faces
from faceveil.faces.draw import draw_faces
from faceveil.faces.mask import DEFACE_MASK_SCALE, MaskSpec
from faceveil.faces.types import Face
from faceveil.methods.base import AnonymizationMethod, PixelRecoverableMethod
from faceveil.pipeline.select import FaceSelector


MASK_SHAPE_CHOICES = ("auto", "ellipse", "box")  # the CLI's --shape (anonymize and eval)
DEFAULT_MASK_SHAPE = "auto"  # ellipse, but box for methods that recover from pixels
DEFAULT_MASK_SCALE = DEFACE_MASK_SCALE  # the CLI's --mask-scale default


@dataclass(frozen=True)
class FaceOptions:
    """mask: what around each face is replaced (None: the whole box region with faceveil's margin, the
        Python API's historical default; the CLI defaults to deface's look, ellipse at scale 1.3).
    boxes: faces imported from a ``--boxes`` file, merged with the detections (faceveil.faces.boxes).
    preview: write the input with boxes, scores and track ids drawn on it instead of anonymizing it:
        nothing else is written (no payload), so no key is needed.
    draw_boxes: also draw the boxes, scores and track ids on the anonymized output. The overlay's pixels
        are recorded in the payload like the faces', so recovery stays exact.
    select: ``--keep`` / ``--only`` (pipeline.select.FaceSelector): which faces are left untouched by
        who they are; None anonymizes every face.
    box_for_pixel_recovery: methods that hide the face in their pixels (PRO-Face S, G2Face) get the box
        shape at the mask's scale (the CLI's ``--shape auto``): their inverse network reads the whole
        aligned crop back, and original pixels left around an ellipse break it (measured on astronaut
        with PRO-Face S: 37.4 dB from-pixels recovery with the box, 15.1 dB with the ellipse).
    """

    mask: MaskSpec | None = None
    boxes: ImportedBoxes | None = None
    preview: bool = False
    draw_boxes: bool = False
    box_for_pixel_recovery: bool = False
    select: FaceSelector | None = None

    def mask_for(self, method: AnonymizationMethod) -> MaskSpec | None:
        """The mask ``method`` gets (see ``box_for_pixel_recovery``)."""
        if self.mask is not None and self.box_for_pixel_recovery and isinstance(method, PixelRecoverableMethod):
            return replace(self.mask, shape="box")
        return self.mask

    def merge(self, detected: list[Face], source: Path, frame_index: int | None = None) -> MergedFaces:
        """Detections plus the boxes file's faces for ``source`` (and frame ``frame_index`` of a video)."""
        if self.boxes is None:
            return MergedFaces(list(detected), (), 0)
        entries = self.boxes.entries_for(source, frame_index)
        return merge_faces(detected, [e.face for e in entries], actions=[e.action for e in entries])

    def choose(self, rgb: np.ndarray, merged: MergedFaces) -> tuple[list[Face], list[dict], list[dict]]:
        """(faces to anonymize, kept records for --json, kept records for the payload header): a boxes
        file's keep/ignore faces, then --keep/--only (the header's records name no reference file)."""
        todo, kept, header = [], [], []
        for i, face in enumerate(merged.faces):
            action = merged.action(i)
            if action != "anonymize":
                why = "kept by hand" if action == "keep" else "not a face (ignored by hand)"
                record = {"box": [round(float(v), 2) for v in face.box], "reason": f"{why} in {self.boxes.source.name}"}
                kept.append(record)
                header.append(record)
            else:
                todo.append(face)
        if self.select is None:
            return todo, kept, header
        anonymize = []
        for face, decision in zip(todo, self.select.decide(rgb, todo)):
            if decision.anonymize:
                anonymize.append(face)
            else:
                kept.append(decision.record(face))
                header.append(decision.record(face, with_reference=False))
        return anonymize, kept, header

    def preview_image(self, rgb: np.ndarray, merged: MergedFaces) -> np.ndarray:
        """(H, W, 3) uint8: ``rgb`` with every face's box, score, track id and mask outline."""
        return draw_faces(rgb, merged.faces, imported=merged.imported, mask=self.mask)

    def overlay(self, rgb: np.ndarray, faces: list[Face], imported=()) -> np.ndarray:
        """``--draw-boxes`` on an anonymized frame (boxes, scores, track ids; no mask outline)."""
        return draw_faces(rgb, faces, imported=imported) if self.draw_boxes else rgb


def mask_options(shape: str = DEFAULT_MASK_SHAPE, mask_scale: float = DEFAULT_MASK_SCALE, **more) -> FaceOptions:
    """``--shape`` / ``--mask-scale`` -> FaceOptions, the one mapping `faceveil anonymize` and `faceveil eval`
    share (so eval measures the mask users get). ``more``: the other FaceOptions fields."""
    return FaceOptions(mask=MaskSpec("ellipse" if shape == "auto" else shape, mask_scale),
                       box_for_pixel_recovery=shape == "auto", **more)
