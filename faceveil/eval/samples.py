"""Real face photos that ship inside installed packages (never copied into the repository).

- ``astronaut``: scikit-image's ``data.astronaut()`` (Eileen Collins, NASA, public domain), 512x512.
- ``grace_hopper``: matplotlib's ``sample_data/grace_hopper.jpg`` (US Navy, public domain), 512x600.
- ``cameraman``: scikit-image's ``data.camera()`` (CC0), grayscale 512x512 stacked to RGB; a small face
  (~70 px) turned ~50 degrees to the side -- the one strongly non-frontal face we have offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceveil.errors import InputError

SAMPLE_NAMES = ("astronaut", "grace_hopper", "cameraman")


def _grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def load_sample(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a package-shipped face photo."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "cameraman":
        from skimage import data

        return np.ascontiguousarray(np.repeat(data.camera()[..., None], 3, axis=2))
    if name == "grace_hopper":
        from PIL import Image

        with Image.open(_grace_hopper_path()) as im:
            return np.asarray(im.convert("RGB")).copy()
    raise InputError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLE_NAMES)}")


def load_samples() -> dict[str, np.ndarray]:
    return {name: load_sample(name) for name in SAMPLE_NAMES}
