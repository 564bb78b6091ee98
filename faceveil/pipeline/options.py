"""The typed option groups of ``faceveil.api.anonymize`` (one per concern instead of 23 keywords):

- ``FaceOptions``: which faces are anonymized and how it looks, shared by photos and videos: the mask
  (shape, scale), faces imported from a boxes file, the detection overlays (``--preview``, ``--draw-boxes``).
- ``DetectOptions``: the face detector, its threshold and config, ``--require-faces``.
- ``OutputOptions``: what is written: format, JPEG quality, metadata, payload placement, overwriting.
- ``KeyOptions``: who can recover: a passphrase and/or X25519 public keys, Argon2id cost.

(Video choices are ``faceveil.api.VideoSettings``.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faceveil.crypto.keys import Argon2Params
from faceveil.faces.boxes import ImportedBoxes, MergedFaces, merge_faces
from faceveil.faces.draw import draw_faces
from faceveil.faces.mask import DEFACE_MASK_SCALE, MaskSpec
from faceveil.faces.types import Face
from faceveil.io.images import DEFAULT_MAX_PIXELS
from faceveil.methods.base import AnonymizationMethod, PixelRecoverableMethod
from faceveil.pipeline.placement import DEFAULT_PAYLOAD, PayloadMode
from faceveil.plugins import DEFAULT_DETECTOR
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


@dataclass(frozen=True)
class DetectOptions:
    """detector: registered name (faceveil.plugins.DETECTORS). threshold: its score threshold (None: its
        own default). options: its config keywords, e.g. ``{"max_side": 640, "intra_op_threads": 2}``.
    require_faces: a file in which no face is found fails (NoFacesError) instead of being written."""

    detector: str = DEFAULT_DETECTOR
    threshold: float | None = None
    options: dict | None = None
    require_faces: bool = False


@dataclass(frozen=True)
class OutputOptions:
    """format: output format name ("png", "jpg", ...; None = the input's). quality: JPEG quality (None: a
        JPEG input's own quantization tables, else 95). keep_metadata / keep_icc: keep EXIF/XMP/ICC (or
        only ICC) in the output (stripped by default). payload: embedded, sidecar, both or none.
    overwrite: replace existing outputs (inputs never). force: also anonymize files that already carry a
        faceveil payload. max_pixels: the decode limit (LimitExceededError above it). suffix: without an
        output path, outputs are named NAME<suffix>.EXT beside their inputs ("_anonymized": deface's names)."""

    format: str | None = None
    quality: int | None = None
    keep_metadata: bool = False
    keep_icc: bool = False
    payload: PayloadMode = DEFAULT_PAYLOAD
    overwrite: bool = False
    force: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    suffix: str = ".anon"


@dataclass(frozen=True)
class KeyOptions:
    """Who can recover: ``passphrase`` (Argon2id with ``argon2_params``, default RFC 9106's second
    option, derived once per call) and/or ``recipients`` (X25519 public key files or objects). Not
    needed for ``payload="none"`` (except pixel-only mode) or a preview."""

    passphrase: str | bytes | None = field(default=None, repr=False)
    recipients: Iterable[str | os.PathLike | object] = ()
    argon2_params: Argon2Params | None = None


def mask_options(shape: str = DEFAULT_MASK_SHAPE, mask_scale: float = DEFAULT_MASK_SCALE, **more) -> FaceOptions:
    """``--shape`` / ``--mask-scale`` -> FaceOptions, the one mapping `faceveil anonymize` and `faceveil eval`
    share (so eval measures the mask users get). ``more``: the other FaceOptions fields."""
    return FaceOptions(mask=MaskSpec("ellipse" if shape == "auto" else shape, mask_scale),
                       box_for_pixel_recovery=shape == "auto", **more)
