"""Helpers shared by the io tests: encode/decode with Pillow directly, independent of faceveil."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def pillow_bytes(pixels: np.ndarray, fmt: str, **options) -> bytes:
    """Encode (H, W, C) uint8 with Pillow directly (independent of the code under test)."""
    image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pillow_pixels(data: bytes) -> np.ndarray:
    """Decode with Pillow directly, no orientation handling: (H, W) or (H, W, C) uint8."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image).copy()
