"""Fixtures for image I/O tests: real photos from installed packages and small encoded files."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import skimage.data


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """(512, 512, 3) uint8: skimage's astronaut photo (one face)."""
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def small_astronaut(astronaut_rgb: np.ndarray) -> np.ndarray:
    """(96, 128, 3) uint8: a non-square crop around the face, small enough to keep tests fast."""
    return np.ascontiguousarray(astronaut_rgb[20:212:2, 100:356:2])


@pytest.fixture(scope="session")
def hopper_jpeg_bytes() -> bytes:
    """matplotlib's grace_hopper.jpg exactly as shipped (a real camera JPEG with JFIF header)."""
    return (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").read_bytes()
