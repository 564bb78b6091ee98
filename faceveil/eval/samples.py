"""Real face photos that ship inside installed packages (never copied into the repository).

- ``astronaut``: scikit-image's ``data.astronaut()`` (Eileen Collins, NASA, public domain), 512x512.
- ``grace_hopper``: matplotlib's ``sample_data/grace_hopper.jpg`` (US Navy, public domain), 512x600.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceveil.errors import InputError

SAMPLE_NAMES = ("astronaut", "grace_hopper")


def _grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def load_sample(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a package-shipped face photo."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "grace_hopper":
        from PIL import Image

        with Image.open(_grace_hopper_path()) as im:
            return np.asarray(im.convert("RGB")).copy()
    raise InputError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLE_NAMES)}")


def load_samples() -> dict[str, np.ndarray]:
    return {name: load_sample(name) for name in SAMPLE_NAMES}
