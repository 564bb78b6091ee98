"""Input checks shared by the analysis models (users can pass any array; fail with a typed error)."""

from __future__ import annotations

import numpy as np

from faceveil.errors import InputError
from faceveil.faces.types import check_rgb_image


def as_rgb_uint8(rgb: np.ndarray, what: str = "image") -> np.ndarray:
    """Return ``rgb`` as a C-contiguous (H, W, 3) uint8 array, or raise InputError.

    dlib and OpenCV bindings reject non-contiguous views (e.g. ``img[:, ::-1]``), so we copy when needed.
    """
    arr = np.asarray(rgb)
    check_rgb_image(arr, what)
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise InputError(f"{what} is too small ({arr.shape[1]}x{arr.shape[0]} pixels)")
    return np.ascontiguousarray(arr)
