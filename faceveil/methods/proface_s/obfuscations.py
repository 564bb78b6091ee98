"""Pre-obfuscations PRO-Face S hides the face behind (the paper's set).

Every function maps an (h, w, 3) uint8 RGB image to the same shape. Parameters are the paper's,
stated for a 256 px face crop and scaled with the crop size so a 128 px training crop is obscured
as strongly, relative to the face, as a 256 px one:

- blur: Gaussian, kernel 61, sigma drawn from [9, 21]
- median: kernel 23
- pixelate: block 20
- mask: a procedural cartoon face drawn over the face (CartoonSet, used by the paper, is not
  available offline)
- faceswap: a user-supplied callable (no face-swap model ships with faceveil)
- hybrid: one of the above chosen at random (per batch in training, per face at inference)
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from faceveil.errors import InputError, UsageError

REFERENCE_SIZE = 256
BLUR_KERNEL = 61
BLUR_SIGMA_RANGE = (9.0, 21.0)
MEDIAN_KERNEL = 23
PIXELATE_BLOCK = 20

HYBRID_KINDS = ("blur", "median", "pixelate", "mask")  # what "hybrid" draws from (plus faceswap when hooked)
OBFUSCATIONS = (*HYBRID_KINDS, "faceswap", "hybrid")

FaceSwapHook = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""(h, w, 3) uint8 face crop, rng -> (h, w, 3) uint8 crop showing another identity."""


def _scaled_odd(value: int, size: int, minimum: int = 3) -> int:
    k = max(minimum, round(value * size / REFERENCE_SIZE))
    return k if k % 2 else k + 1


def blur(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from faceveil.methods.classical import gaussian_blur

    size = min(rgb.shape[:2])
    sigma = rng.uniform(*BLUR_SIGMA_RANGE) * size / REFERENCE_SIZE
    return gaussian_blur(rgb, _scaled_odd(BLUR_KERNEL, size), sigma)


def median(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from faceveil.methods.classical import median_blur

    return median_blur(rgb, _scaled_odd(MEDIAN_KERNEL, min(rgb.shape[:2])))


def pixelate(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from faceveil.methods.classical import pixelate as classical_pixelate

    block = max(2, round(PIXELATE_BLOCK * min(rgb.shape[:2]) / REFERENCE_SIZE))
    return classical_pixelate(rgb, block)


def cartoon_mask(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a flat cartoon face (head, hair, eyes, brows, nose, mouth) over an FFHQ-framed crop.

    Positions are fractions of the crop, matching where FFHQ alignment puts eyes and mouth; colours
    and proportions are drawn from ``rng`` so masks vary like a cartoon set would."""
    h, w = rgb.shape[:2]
    out = np.ascontiguousarray(rgb.copy())
    aa = cv2.LINE_AA

    def pt(fx: float, fy: float) -> tuple[int, int]:
        return int(round(fx * w)), int(round(fy * h))

    def axes(fx: float, fy: float) -> tuple[int, int]:
        return max(1, int(round(fx * w))), max(1, int(round(fy * h)))

    skin = tuple(int(c) for c in rng.integers(120, 256, 3))
    hair = tuple(int(c) for c in rng.integers(0, 160, 3))
    iris = tuple(int(c) for c in rng.integers(0, 120, 3))
    lips = tuple(int(c) for c in (rng.integers(150, 256), rng.integers(0, 110), rng.integers(0, 130)))
    face_w, face_h = rng.uniform(0.30, 0.38), rng.uniform(0.38, 0.46)
    cv2.ellipse(out, pt(0.5, 0.56), axes(face_w + 0.03, face_h * 0.8), 0, 180, 360, hair, -1, aa)
    cv2.ellipse(out, pt(0.5, 0.58), axes(face_w, face_h), 0, 0, 360, skin, -1, aa)
    eye_y, eye_dx = rng.uniform(0.46, 0.50), rng.uniform(0.11, 0.14)
    eye_r = rng.uniform(0.035, 0.055)
    for side in (-1, 1):
        cx = 0.5 + side * eye_dx
        cv2.ellipse(out, pt(cx, eye_y), axes(eye_r * 1.4, eye_r), 0, 0, 360, (255, 255, 255), -1, aa)
        cv2.circle(out, pt(cx, eye_y), max(1, int(eye_r * 0.8 * w)), iris, -1, aa)
        cv2.circle(out, pt(cx, eye_y), max(1, int(eye_r * 0.35 * w)), (10, 10, 10), -1, aa)
        cv2.line(out, pt(cx - 0.06, eye_y - 0.07), pt(cx + 0.06, eye_y - 0.08 + side * 0.005), hair,
                 max(1, w // 64), aa)
    nose = np.array([pt(0.5, 0.52), pt(0.47, 0.62), pt(0.53, 0.62)], dtype=np.int32)
    cv2.polylines(out, [nose], False, tuple(int(c * 0.7) for c in skin), max(1, w // 128), aa)
    mouth_w = rng.uniform(0.07, 0.12)
    cv2.ellipse(out, pt(0.5, 0.71), axes(mouth_w, mouth_w * 0.45), 0, 0, 180, lips, -1, aa)
    return out


def resolve_kind(
    kind: str, rng: np.random.Generator, faceswap: FaceSwapHook | None = None, allowed: tuple[str, ...] | None = None
) -> str:
    """Name of the concrete obfuscation to apply; 'hybrid' picks one at random (faceswap only
    when a hook is available; only kinds in ``allowed`` when given)."""
    if kind not in OBFUSCATIONS:
        raise UsageError(f"unknown PRO-Face S obfuscation {kind!r}; choose one of: {', '.join(OBFUSCATIONS)}")
    if kind != "hybrid":
        return kind
    choices = [*HYBRID_KINDS] + (["faceswap"] if faceswap is not None else [])
    choices = [k for k in choices if allowed is None or k in allowed]
    return choices[int(rng.integers(len(choices)))]


def obfuscate(rgb: np.ndarray, kind: str, rng: np.random.Generator, faceswap: FaceSwapHook | None = None) -> np.ndarray:
    """Apply obfuscation ``kind`` ('hybrid' resolved here) to one (h, w, 3) uint8 image."""
    kind = resolve_kind(kind, rng, faceswap)
    if kind == "faceswap":
        if faceswap is None:
            raise InputError("obfuscation 'faceswap' needs a face-swap callable (faceswap=...); none ships with faceveil")
        swapped = np.asarray(faceswap(rgb, rng))
        if swapped.shape != rgb.shape or swapped.dtype != np.uint8:
            raise InputError(f"face-swap hook returned {swapped.shape} {swapped.dtype}, expected {rgb.shape} uint8")
        return swapped
    return _FUNCTIONS[kind](rgb, rng)


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "blur": blur,
    "median": median,
    "pixelate": pixelate,
    "mask": cartoon_mask,
}
