"""Fixtures for crypto tests: cheap Argon2 parameters, keys, and containers built from a real face."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest
from skimage import data as skimage_data

from faceveil.crypto import (
    Argon2Params,
    ContentKey,
    PassphraseKey,
    Region,
    X25519Identity,
    pixel_digest,
    seal,
)
from faceveil.faces.types import Face

# Test-only: 1 MiB Argon2 so each derivation takes ~1 ms. Production code refuses this without allow_weak.
WEAK_PARAMS = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
PASSPHRASE = "correct horse battery staple"
ASTRONAUT_FACE_BOX = (160, 40, 320, 240)  # x0, y0, x1, y1 around the astronaut's face


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """(512, 512, 3) uint8, the one-face photo shipped with scikit-image."""
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def passphrase_key() -> PassphraseKey:
    return PassphraseKey.create(PASSPHRASE, WEAK_PARAMS, allow_weak=True)


@pytest.fixture(scope="session")
def identity() -> X25519Identity:
    return X25519Identity.generate()


def face_region(image: np.ndarray, box: tuple[int, int, int, int] = ASTRONAUT_FACE_BOX) -> Region:
    x0, y0, x1, y1 = box
    return Region(x=x0, y=y0, pixels=image[y0:y1, x0:x1].copy())


def blacked_out(image: np.ndarray, regions: list[Region]) -> np.ndarray:
    """A stand-in anonymized image: every region painted black."""
    out = image.copy()
    for r in regions:
        out[r.y : r.y + r.height, r.x : r.x + r.width] = 0
    return out


def seal_image(image: np.ndarray, regions: list[Region], recipients, **overrides) -> bytes:
    anonymized = blacked_out(image, regions)
    kwargs = dict(
        regions=regions,
        method="solid",
        method_params={"color": [0, 0, 0]},
        image_shape=image.shape,
        faces=[Face(box=(float(r.x), float(r.y), float(r.x + r.width), float(r.y + r.height)), score=0.9) for r in regions],
        pixel_sha256=pixel_digest(anonymized),
        recipients=recipients,
    )
    return seal(**(kwargs | overrides))


@pytest.fixture(scope="session")
def small_container(astronaut_rgb, passphrase_key, identity) -> tuple[bytes, ContentKey]:
    """A ~1 KB container (6x5 region of a real face, both recipient kinds, one secret), and its content key."""
    content_key = ContentKey.generate()
    region = face_region(astronaut_rgb, (200, 100, 206, 105))
    blob = seal_image(astronaut_rgb, [region], [passphrase_key, identity.recipient],
                      content_key=content_key, secrets={"embedding": b"\x01\x02\x03"})
    return blob, content_key


# --- helpers that play the attacker: edit a container and make it self-consistent again ----------


def rechecksum(blob: bytes) -> bytes:
    """Recompute the unkeyed trailing SHA-256, as an attacker who edits bytes on purpose would."""
    return blob[:-32] + hashlib.sha256(blob[:-32]).digest()


def split_container(blob: bytes) -> tuple[int, dict, bytes]:
    """(version, header dict, body) following the layout in docs/format.md."""
    magic, version, header_len, body_len = struct.unpack(">8sHIQ", blob[:22])
    header = json.loads(blob[22 : 22 + header_len])
    return version, header, blob[22 + header_len : 22 + header_len + body_len]


def join_container(version: int, header: dict, body: bytes) -> bytes:
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    prefix = struct.pack(">8sHIQ", b"\x89FVR\r\n\x1a\n", version, len(header_bytes), len(body)) + header_bytes
    return rechecksum(prefix + body + bytes(32))
