"""Damaged files (truncated, bytes overwritten) only ever produce faceveil's typed errors."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from io_helpers import pillow_bytes

from faceveil.errors import FaceveilError
from faceveil.io.carriers import embed_payload, extract_payload, strip_payload
from faceveil.io.images import decode_image, encode_image

TRIALS_PER_FILE = 120


def _damaged_variants(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    variants = []
    for _ in range(TRIALS_PER_FILE):
        damaged = bytearray(data)
        if rng.random() < 0.4:
            damaged = damaged[: rng.randrange(len(damaged))]
        else:
            for _ in range(rng.choice([1, 4, 30])):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        variants.append(bytes(damaged))
    return variants


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow notes corrupt EXIF it skips
@pytest.mark.parametrize("host", ["PNG", "JPEG", "WEBP-lossless", "WEBP-lossy", "TIFF", "BMP", "GIF"])
def test_damage_never_escapes_as_an_untyped_exception(small_astronaut, host):
    pixels = np.ascontiguousarray(small_astronaut[::2, ::2])
    data = {
        "WEBP-lossy": lambda: pillow_bytes(pixels, "WEBP", quality=80),
        "WEBP-lossless": lambda: encode_image(pixels, "WEBP"),
        "GIF": lambda: pillow_bytes(pixels, "GIF"),
    }.get(host, lambda: encode_image(pixels, host))()
    if host in ("PNG", "JPEG", "WEBP-lossless", "WEBP-lossy"):
        data = embed_payload(data, os.urandom(70_000))  # damage must hit our carrier too
    outcomes = set()
    for damaged in _damaged_variants(data, seed=len(host)):
        for operation in (decode_image, extract_payload, strip_payload):
            try:
                operation(damaged)
                outcomes.add("ok")
            except FaceveilError as exc:
                outcomes.add(type(exc).__name__)
    assert "InputError" in outcomes  # the damage was real enough to be noticed
