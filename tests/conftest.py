"""Shared fixtures: real faces from installed packages, written to temporary files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Keep torch from oversubscribing the 2-core CI machine when tests run in parallel workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from faceveil.testing import load_sample

    return load_sample("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    from faceveil.testing import load_sample

    return load_sample("grace_hopper")


@pytest.fixture
def astronaut_png(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


@pytest.fixture
def hopper_jpg(tmp_path: Path) -> Path:
    from faceveil.testing import _grace_hopper_path

    path = tmp_path / "hopper.jpg"
    path.write_bytes(_grace_hopper_path().read_bytes())
    return path


@pytest.fixture
def passphrase(monkeypatch) -> str:
    value = "correct horse battery staple"
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", value)
    return value


@pytest.fixture(scope="session")
def reference_layouts() -> dict:
    """Published checkpoint layouts {key: [[name, shape, dtype], ...]} (tests/data/README.md)."""
    return json.loads((Path(__file__).parent / "data" / "reference_checkpoints.json").read_text())


@pytest.fixture(scope="session")
def detector():
    """The default face detector (CenterFace), loaded once per test process."""
    from faceveil.faces.detect import create_detector

    return create_detector("centerface")


@pytest.fixture(scope="session")
def identity():
    """One X25519 key pair (faceveil.crypto.keys.X25519Identity) for a test process."""
    from faceveil.crypto.keys import X25519Identity

    return X25519Identity.generate()
