"""One frame (or a batch of frames): faces → method crops → paste back → changed regions, and back.

Photos (pipeline.photo), videos (pipeline.video) and the evaluation (eval.sources) all anonymize
through :func:`anonymize_frames`, so the routing rule (:func:`route`: which face gets the region,
the aligned crop or the fallback) exists once. Per-face contexts: :func:`face_contexts` (photos,
by face index) and :func:`track_contexts` (video, by track id).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faceveil.crypto.container import Region, pixel_digest
from faceveil.crypto.envelope import ContentKey
from faceveil.faces.align import align_face, eye_distance, paste_back, region_rect
from faceveil.faces.mask import MaskSpec, blend
from faceveil.faces.types import Face, check_rgb_image
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


def track_seed(content_key: ContentKey | None, track_id: int, run_salt: int) -> int:
    """One seed per track for the whole video, so a person keeps one dummy identity / obfuscation.
    Derived from the content key (key holders can re-create it), else from a per-run random salt."""
    if content_key is not None:
        return int.from_bytes(content_key.derive(f"track/{track_id}/seed", 8), "big")
    return int(np.random.SeedSequence([run_salt, track_id]).generate_state(1, dtype=np.uint64)[0])


def track_contexts(faces: Sequence[Face], content_key: ContentKey | None, run_salt: int) -> list[FaceContext]:
    """FaceContexts whose seed and secrets belong to the face's *track*, not its position in the
    frame's face list (which changes from frame to frame)."""
    contexts = []
    for i, face in enumerate(faces):
        track_id = int(face.track_id if face.track_id is not None else -1 - i)
        derive = None
        if content_key is not None:
            derive = (lambda label, n, _t=track_id: content_key.derive(f"track/{_t}/{label}", n))
        contexts.append(FaceContext(face=face, index=i, seed=track_seed(content_key, track_id, run_salt), derive_secret=derive))
    return contexts


Route = Literal["region", "aligned", "fallback"]


def route(face: Face, method: AnonymizationMethod) -> Route:
    """THE routing rule: region methods take every face's region; aligned methods take faces with
    landmarks and enough eye distance for the model; the rest get the method's fallback."""
    if method.space == "region":
        return "region"
    if face.landmarks is None or eye_distance(face) < method.min_eye_distance:
        return "fallback"
    return "aligned"


def _fallback_reason(face: Face, method: AnonymizationMethod) -> str:
    if face.landmarks is None:
        return "no landmarks"
    return (f"face too small for {method.name} (eye distance {eye_distance(face):.0f}px "
            f"< {method.min_eye_distance:.0f}px)")


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
    return anonymize_frames([rgb], [faces], [contexts], method, fallback, mask=mask)[0]


def anonymize_frames(
    frames: Sequence[np.ndarray],
    faces: Sequence[Sequence[Face]],
    contexts: Sequence[Sequence[FaceContext]],
    method: AnonymizationMethod,
    fallback: AnonymizationMethod | None = None,
    *,
    mask: MaskSpec | None = None,
) -> list[FrameResult]:
    """:func:`anonymize_frame` for several frames (video frames, or the images of a photo batch), with
    ONE ``method.anonymize`` call for the region crops of all of them (or, for aligned methods, one
    for their aligned crops and one for the fallback faces): GPU batching across frames and images.

    frames[k]: (H, W, 3) uint8 RGB; faces[k] / contexts[k]: that frame's faces. Region and fallback
    faces are done first; aligned crops are then cut from that result, processed together and pasted
    back. Outcomes are listed in face order. Each face's result depends only on its crop and context
    (seeds are per face), so a frame's output is the same whether it is processed alone or in a batch.
    """
    for rgb in frames:
        check_rgb_image(rgb, "anonymize_frame's frame", error=ValueError)  # a caller's bug, not user input
    t0 = time.perf_counter()
    outs = [rgb.copy() for rgb in frames]
    slots: list[list[FaceOutcome | None]] = [[None] * len(f) for f in faces]
    timings = [{"align": 0.0, "anonymize": 0.0} for _ in frames]
    jobs: list[tuple[int, int]] = []  # (frame k, face i) taking the aligned path
    by_kind: dict[str, list[tuple[int, int]]] = {"region": [], "fallback": []}
    for k, frame_faces in enumerate(faces):
        routes = [route(f, method) for f in frame_faces]
        jobs += [(k, i) for i, r in enumerate(routes) if r == "aligned"]
        for kind in by_kind:
            by_kind[kind] += [(k, i) for i, r in enumerate(routes) if r == kind]
    for kind, todo in by_kind.items():
        if not todo:
            continue
        if kind == "fallback" and fallback is None:
            fallback = create_method(method.fallback)
        m = method if kind == "region" else fallback
        rects = [method_region_rect(faces[k][i], outs[k].shape, m, mask) for k, i in todo]
        # every crop is cut before any is pasted (overlapping faces see the original pixels)
        crops = [outs[k][y : y + h, x : x + w].copy() for (k, _), (x, y, w, h) in zip(todo, rects)]
        t = time.perf_counter()
        results = m.anonymize(crops, [contexts[k][i] for k, i in todo])
        t_anon = time.perf_counter() - t
        for (k, i), (x, y, w, h), res in zip(todo, rects, results):
            face = faces[k][i]
            alpha = mask.region_alpha(face, (x, y, w, h)) if mask is not None else None
            outs[k][y : y + h, x : x + w] = blend(outs[k][y : y + h, x : x + w], res, alpha)
            reason = _fallback_reason(face, method) if kind == "fallback" else None
            slots[k][i] = FaceOutcome(face, m.name, (x, y, w, h), reason)
            timings[k]["anonymize"] += t_anon / len(todo)  # a batch's time, shared among its faces
    if jobs:
        t = time.perf_counter()
        aligned = [align_face(outs[k], faces[k][i], size=method.crop_size) for k, i in jobs]
        t_align = time.perf_counter() - t
        t = time.perf_counter()
        results = method.anonymize([a.crop for a in aligned], [contexts[k][i] for k, i in jobs])
        t_anon = time.perf_counter() - t
        t = time.perf_counter()
        for (k, i), a, res in zip(jobs, aligned, results):
            image_mask = mask.image_mask(faces[k][i]) if mask is not None else None
            outs[k], rect = paste_back(outs[k], res, a, image_mask=image_mask)
            slots[k][i] = FaceOutcome(faces[k][i], method.name, rect)
        t_align += time.perf_counter() - t
        for k in {k for k, _ in jobs}:  # a batch's time, shared among its frames
            timings[k]["align"] += t_align / len(frames)
            timings[k]["anonymize"] += t_anon / len(frames)
    total = (time.perf_counter() - t0) / len(frames) if frames else 0.0
    return [FrameResult(out, [o for o in slot if o is not None], t | {"total": total})
            for out, slot, t in zip(outs, slots, timings)]


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
    idx = [i for i, f in enumerate(faces) if route(f, method) == "aligned"]
    if not idx:
        return out
    aligned = [align_face(out, faces[i], size=method.crop_size) for i in idx]
    results = method.recover([a.crop for a in aligned], [contexts[i] for i in idx])
    for i, a, res in zip(idx, aligned, results):
        out, _ = paste_back(out, res, a, image_mask=mask.image_mask(faces[i]) if mask is not None else None)
    return out


def recover_outcomes_from_pixels(
    rgb: np.ndarray,
    outcomes: Sequence[FaceOutcome | dict],
    method: PixelRecoverableMethod,
    contexts: Sequence[FaceContext],
    mask: MaskSpec | None = None,
) -> np.ndarray:
    """From-pixels recovery of the faces ``method`` anonymized, given the frame's outcomes (objects, or
    their ``to_dict()`` as recorded in a container) and the contexts of ALL its faces (by index).
    ``mask``: the one used at anonymization (recorded in the container's extra).
    Faces that got the fallback hide nothing and stay as they are. Photos (recover --from-pixels)
    and the evaluation both come here, so region methods always get their recorded rectangles."""
    mine = [i for i, o in enumerate(outcomes) if _get(o, "method") == method.name]
    rects = [tuple(int(v) for v in _get(outcomes[i], "rect")) for i in mine]
    return recover_frame_from_pixels(rgb, [contexts[i].face for i in mine], method, [contexts[i] for i in mine], rects=rects,
                                     mask=mask)


def _get(outcome: FaceOutcome | dict, key: str):
    return outcome[key] if isinstance(outcome, dict) else getattr(outcome, key)


def face_from_dict(d: dict) -> Face:
    """A Face from its ``to_dict()`` form (as recorded in a container)."""
    lm = np.asarray(d["landmarks"], dtype=np.float32) if d.get("landmarks") is not None else None
    return Face(box=tuple(d["box"]), landmarks=lm, score=d.get("score", 1.0), track_id=d.get("track_id"))


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
    "anonymize_frames",
    "changed_regions",
    "face_contexts",
    "face_from_dict",
    "method_region_rect",
    "pixel_digest",
    "recover_frame_from_pixels",
    "recover_outcomes_from_pixels",
    "restore_regions",
    "route",
    "track_contexts",
    "track_seed",
]
