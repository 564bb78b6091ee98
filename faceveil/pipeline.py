"""Whole-photo pipeline: image → faces → method → regions → container, and back.

The pieces it joins each live in one place (faces.detect, faces.align, methods, crypto.container,
io.images/io.carriers); this module only orders them:

anonymize:  detect faces on RGB → for each face, hand the method its crop (region or aligned) →
            paste results into a working copy → record the original pixels of every changed rectangle
            → encode the output → hash the *decoded* output pixels → seal the container (hash bound as
            associated data) → embed/sidecar.
recover:    find payload → read header (no key) → open with key → check the pixel hash → put the
            original rectangles back (→ bit-exact for lossless outputs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from faceveil.crypto.container import Region, pixel_digest
from faceveil.crypto.envelope import ContentKey
from faceveil.faces.align import align_face, eye_distance, paste_back, region_rect
from faceveil.faces.mask import MaskSpec, blend
from faceveil.faces.types import Face
from faceveil.methods.base import AnonymizationMethod, FaceContext, PixelRecoverableMethod, create_method

Rect = tuple[int, int, int, int]  # (x, y, width, height), clipped to the image


@dataclass
class FaceOutcome:
    """What happened to one face: which method ran, and the rectangle whose pixels changed."""

    face: Face
    method: str
    rect: Rect
    fallback_reason: str | None = None

    def to_dict(self) -> dict:
        d = self.face.to_dict() | {"method": self.method, "rect": list(self.rect)}
        if self.fallback_reason:
            d["fallback_reason"] = self.fallback_reason
        return d


@dataclass
class FrameResult:
    """Result of anonymizing one RGB frame. ``rgb`` is (H, W, 3) uint8."""

    rgb: np.ndarray
    outcomes: list[FaceOutcome]
    timings: dict[str, float] = field(default_factory=dict)


def face_contexts(faces: Sequence[Face], content_key: ContentKey | None, seeds: Sequence[int] | None = None) -> list[FaceContext]:
    """Per-face contexts. Seeds and secrets derive from the image's content key, so a key holder can
    re-create them at recovery time while nobody else can predict them; video passes track seeds."""
    contexts = []
    for i, face in enumerate(faces):
        if seeds is not None:
            seed = int(seeds[i])
        elif content_key is not None:
            seed = int.from_bytes(content_key.derive(f"face/{i}/seed", 8), "big")
        else:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
        derive = None
        if content_key is not None:
            # bind the face index into the label so two faces never share a secret
            derive = (lambda label, n, _i=i: content_key.derive(f"face/{_i}/{label}", n))
        contexts.append(FaceContext(face=face, index=i, seed=seed, derive_secret=derive))
    return contexts


def anonymize_frame(
    rgb: np.ndarray,
    faces: Sequence[Face],
    method: AnonymizationMethod,
    contexts: Sequence[FaceContext],
    *,
    fallback: AnonymizationMethod | None = None,
    mask: MaskSpec | None = None,
) -> FrameResult:
    """Anonymize the given faces of one RGB frame (H, W, 3) uint8; returns a new array.

    Region methods get the axis-aligned face region; aligned methods get FFHQ-framed crops, and faces
    too small for the model get ``fallback`` (a region method) instead — reported per face.
    ``mask`` (shape and scale, faceveil.faces.mask) limits what is replaced; None is the whole region box
    with faceveil's margin. The reported rect is always the whole region, so recovery stays exact.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"anonymize_frame expects (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    out = rgb.copy()
    outcomes: list[FaceOutcome | None] = [None] * len(faces)
    t0 = time.perf_counter()

    aligned_idx, region_idx, fallback_idx = [], [], []
    for i, face in enumerate(faces):
        if method.space == "region":
            region_idx.append(i)
        elif face.landmarks is None or eye_distance(face) < method.min_eye_distance:
            fallback_idx.append(i)
        else:
            aligned_idx.append(i)

    timings = {"align": 0.0, "anonymize": 0.0}
    for idx, m in ((region_idx, method), (fallback_idx, fallback or create_method(method.fallback))):
        if not idx:
            continue
        rects = [method_region_rect(faces[i], out.shape, m, mask) for i in idx]
        crops = [out[y : y + h, x : x + w].copy() for x, y, w, h in rects]
        t = time.perf_counter()
        results = m.anonymize(crops, [contexts[i] for i in idx])
        timings["anonymize"] += time.perf_counter() - t
        for i, (x, y, w, h), res in zip(idx, rects, results):
            alpha = mask.region_alpha(faces[i], (x, y, w, h)) if mask is not None else None
            out[y : y + h, x : x + w] = blend(out[y : y + h, x : x + w], res, alpha)
            reason = None
            if m is not method:
                reason = (
                    "no landmarks" if faces[i].landmarks is None
                    else f"face too small for {method.name} (eye distance {eye_distance(faces[i]):.0f}px "
                    f"< {method.min_eye_distance:.0f}px)"
                )
            outcomes[i] = FaceOutcome(faces[i], m.name, (x, y, w, h), reason)

    if aligned_idx:
        t = time.perf_counter()
        aligned = [align_face(out, faces[i], size=method.crop_size) for i in aligned_idx]
        timings["align"] += time.perf_counter() - t
        t = time.perf_counter()
        results = method.anonymize([a.crop for a in aligned], [contexts[i] for i in aligned_idx])
        timings["anonymize"] += time.perf_counter() - t
        t = time.perf_counter()
        for i, a, res in zip(aligned_idx, aligned, results):
            image_mask = mask.image_mask(faces[i]) if mask is not None else None
            out, rect = paste_back(out, res, a, image_mask=image_mask)
            outcomes[i] = FaceOutcome(faces[i], method.name, rect)
        timings["align"] += time.perf_counter() - t

    timings["total"] = time.perf_counter() - t0
    return FrameResult(out, [o for o in outcomes if o is not None], timings)


def method_region_rect(
    face: Face, image_shape: tuple[int, ...], method: AnonymizationMethod, mask: MaskSpec | None = None
) -> Rect:
    """The face's region rectangle (``mask``'s scale, or faceveil's margin), with sides rounded to
    ``method.region_multiple`` (grown where the image allows, shifted inward at the border, shrunk only
    when the image itself is too small)."""
    x, y, w, h = mask.rect(face, image_shape) if mask is not None else region_rect(face, image_shape)
    m = method.region_multiple
    if m <= 1:
        return x, y, w, h
    img_h, img_w = image_shape[:2]

    def fit(start: int, size: int, limit: int) -> tuple[int, int]:
        size = min(-(-size // m) * m, (limit // m) * m)
        return max(0, min(start, limit - size)), size

    x, w = fit(x, w, img_w)
    y, h = fit(y, h, img_h)
    return x, y, w, h


def recover_frame_from_pixels(
    rgb: np.ndarray,
    faces: Sequence[Face],
    method: PixelRecoverableMethod,
    contexts: Sequence[FaceContext],
    rects: Sequence[Rect] | None = None,
    mask: MaskSpec | None = None,
) -> np.ndarray:
    """Approximate recovery from anonymized pixels alone (learned methods).

    Region methods read back exactly the rectangles they wrote (``rects``, as recorded in the
    container); aligned methods re-align each face with the landmarks recorded at anonymization time,
    run the method's inverse and paste back. ``mask`` must be the one used at anonymization time: only
    the pixels it replaced are recovered (the rest were never changed).
    """
    out = rgb.copy()
    if method.space == "region":
        if rects is None or len(rects) != len(faces):
            raise ValueError("region methods recover from the rectangles recorded at anonymization time")
        crops = [out[y : y + h, x : x + w].copy() for x, y, w, h in rects]
        for face, (x, y, w, h), res in zip(faces, rects, method.recover(crops, list(contexts))):
            alpha = mask.region_alpha(face, (x, y, w, h)) if mask is not None else None
            out[y : y + h, x : x + w] = blend(out[y : y + h, x : x + w], res, alpha)
        return out
    idx = [i for i, f in enumerate(faces) if f.landmarks is not None and eye_distance(f) >= method.min_eye_distance]
    if not idx:
        return out
    aligned = [align_face(out, faces[i], size=method.crop_size) for i in idx]
    results = method.recover([a.crop for a in aligned], [contexts[i] for i in idx])
    for i, a, res in zip(idx, aligned, results):
        out, _ = paste_back(out, res, a, image_mask=mask.image_mask(faces[i]) if mask is not None else None)
    return out


def changed_regions(original: np.ndarray, anonymized: np.ndarray, rects: Sequence[Rect]) -> list[Region]:
    """Original pixels of every rectangle that changed. (H, W, C) arrays in the same layout.

    Belt and braces: any changed pixel outside ``rects`` (which should not happen) gets one extra
    bounding rectangle, so recovery of lossless outputs is exact by construction, not by trust.
    """
    regions = [Region(x=x, y=y, pixels=original[y : y + h, x : x + w].copy()) for x, y, w, h in rects if w > 0 and h > 0]
    diff = np.any(original != anonymized, axis=-1)
    for x, y, w, h in rects:
        diff[y : y + h, x : x + w] = False
    if diff.any():
        ys, xs = np.nonzero(diff)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        regions.append(Region(x=int(x0), y=int(y0), pixels=original[y0:y1, x0:x1].copy()))
    return regions


def restore_regions(pixels: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """Put original rectangles back into a (H, W, C) array (returns a new array)."""
    out = pixels.copy()
    for r in regions:
        h, w = r.pixels.shape[:2]
        out[r.y : r.y + h, r.x : r.x + w] = r.pixels
    return out


__all__ = [
    "FaceOutcome",
    "FrameResult",
    "anonymize_frame",
    "changed_regions",
    "face_contexts",
    "method_region_rect",
    "pixel_digest",
    "recover_frame_from_pixels",
    "restore_regions",
]
