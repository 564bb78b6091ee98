"""``replace``: paste a given image over each face (deface's ``--replacewith img --replaceimg FILE``).

    faceveil anonymize photo.jpg --method replace -O image=logo.png

The image is scaled to each face region keeping its aspect ratio and *covering* the whole region (the
overflow is cropped, centred): a "fit inside" scaling would leave bands of the face visible beside the
image. The pipeline then applies the mask as for every method (``--shape ellipse|box``, ``--mask-scale``)
and records the original region, so recovery is exact. An RGBA image (or gray + alpha, or a palette with
transparency) is composited by its alpha: its transparent parts show what is under them, i.e. the face,
so use an opaque image to hide the face entirely. Video: the same image on every frame.

The image is read once, when the method is created (before any output is written); a missing,
unreadable or non-image file is an InputError (exit 3). Only the image's SHA-256 and size are recorded in
the (unencrypted) container parameters, not its path, which may carry a user or folder name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceveil.errors import InputError, UsageError
from faceveil.io.images import DEFAULT_MAX_PIXELS, load_image
from faceveil.methods.classical import RegionMethod

_CACHE_SIZES = 64  # fitted copies kept (a video's regions take a few sizes per track)


@dataclass(frozen=True)
class ReplaceConfig:
    """image: path of the replacement image (PNG/JPEG/WebP/TIFF/BMP; RGB, RGBA, gray); required."""

    image: str | None = None

    def __post_init__(self) -> None:
        if self.image is None or not str(self.image).strip():
            raise UsageError("method 'replace' needs the replacement image: -O image=FILE")


@dataclass(frozen=True)
class _Fitted:
    """The image scaled and cropped to one region size: premultiplied colour (h, w, 3) float32 and
    alpha (h, w, 1) float32, or uint8 colour and alpha None for an opaque image."""

    colour: np.ndarray
    alpha: np.ndarray | None


def cover_crop(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (H, W, C) scaled by one factor so that it covers ``width`` x ``height``, then centre-cropped
    to exactly that size (aspect ratio kept, nothing stretched)."""
    ih, iw = image.shape[:2]
    scale = max(width / iw, height / ih)
    nw, nh = max(width, round(iw * scale)), max(height, round(ih * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (nw, nh), interpolation=interpolation)
    if scaled.ndim == 2:
        scaled = scaled[..., None]
    x, y = (nw - width) // 2, (nh - height) // 2
    return scaled[y : y + height, x : x + width]


class ReplaceMethod(RegionMethod):
    name = "replace"
    config_type = ReplaceConfig

    def __init__(self, config: ReplaceConfig | None = None, **options) -> None:
        super().__init__(config, **options)
        path = Path(str(self.config.image)).expanduser()
        try:
            loaded = load_image(path, max_pixels=DEFAULT_MAX_PIXELS)
        except InputError as exc:  # exit 3 (13 over the pixel limit), naming the option it came from
            raise type(exc)(f"replacement image (-O image=...): {exc}") from None
        pixels = loaded.pixels
        if pixels.shape[2] in (1, 2):  # gray (+ alpha): replicate to RGB
            pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
        self._rgb = np.ascontiguousarray(pixels[..., :3])
        alpha = pixels[..., 3:4] if pixels.shape[2] == 4 else None
        self._alpha = None if alpha is None or bool((alpha == 255).all()) else alpha
        self._sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self._fitted: dict[tuple[int, int], _Fitted] = {}

    def params(self) -> dict:
        h, w = self._rgb.shape[:2]
        return {"image_sha256": self._sha256, "image_size": [w, h], "fit": "cover"}

    def fitted(self, height: int, width: int) -> _Fitted:
        """The image prepared for an (height, width) region, cached per size."""
        key = (height, width)
        if key not in self._fitted:
            if len(self._fitted) >= _CACHE_SIZES:
                self._fitted.clear()
            if self._alpha is None:
                self._fitted[key] = _Fitted(cover_crop(self._rgb, width, height), None)
            else:
                # premultiplied: resampling straight colours would bleed the colour of transparent pixels
                a = self._alpha.astype(np.float32) / 255.0
                rgba = np.concatenate([self._rgb.astype(np.float32) * a, a], axis=2)
                scaled = cover_crop(rgba, width, height)
                self._fitted[key] = _Fitted(scaled[..., :3], np.clip(scaled[..., 3:4], 0.0, 1.0))
        return self._fitted[key]

    def obfuscate(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = crop.shape[:2]
        fit = self.fitted(h, w)
        if fit.alpha is None:
            return fit.colour.copy()
        mixed = fit.colour + crop.astype(np.float32) * (1.0 - fit.alpha)
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
