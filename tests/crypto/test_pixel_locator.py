"""The pixel locator (crypto/pixel_locator.py) on a real photo: round trip, wrong key, any altered pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faceveil.crypto.keys import ARGON2_FORMAT_LIMITS, Argon2Params, PassphraseKey
from faceveil.crypto.pixel_locator import (
    HEADER_BYTES,
    PLACES,
    band_rect,
    choose_place,
    embed,
    find_header,
    new_image_keys,
    open_locator,
    pixels_needed,
)
from faceveil.errors import KeyMaterialError, LimitExceededError, TamperedPixelsError, WrongKeyError

WEAK = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
RECORD = {"method": "proface-s", "params": {"obfuscation": "blur"}, "faces": [{"box": [1, 2, 3, 4], "rect": [150, 30, 150, 170], "method": "proface-s"}]}


@pytest.fixture(scope="module")
def sealed(astronaut):
    key = PassphraseKey.create("pw one", WEAK, allow_weak=True)
    key, salt, keys = new_image_keys(key)
    out = embed(astronaut, RECORD | {"shape": list(astronaut.shape)}, key, salt, keys, avoid=[(150, 30, 150, 170)])
    return out, keys


def opener(pw: str) -> list:
    return [PassphraseKey.for_opening(pw)]


def test_round_trip_gives_the_record_and_the_same_content_key(sealed, astronaut):
    out, keys = sealed
    changed = np.any(out != astronaut, axis=-1)
    assert changed.any() and np.abs(out.astype(int) - astronaut).max() == 1  # LSBs only
    loc = open_locator(out, opener("pw one"))
    assert loc.record["faces"] == RECORD["faces"] and loc.place == "bottom"
    assert loc.content_key == keys.content_key
    # the face rectangle is not touched (the band went where it misses it)
    assert not changed[30:200, 150:300].any()


def test_survives_lossless_re_encoding_without_metadata(sealed):
    out, _ = sealed
    for fmt, kw in (("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {}), ("BMP", {})):
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, fmt, **kw)
        again = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        assert open_locator(again, opener("pw one")).record["faces"] == RECORD["faces"], fmt


def test_wrong_passphrase_is_an_authenticated_error(sealed):
    with pytest.raises(WrongKeyError):
        open_locator(sealed[0], opener("pw two"))
    with pytest.raises(KeyMaterialError):
        open_locator(sealed[0], [])


def test_any_altered_pixel_is_detected(sealed):
    out, _ = sealed
    edited = out.copy()
    edited[100, 200, 1] ^= 4  # inside the face, far from the locator
    with pytest.raises(TamperedPixelsError, match="lossless copy"):
        open_locator(edited, opener("pw one"))
    body = out.copy()
    body[-1, 100, 0] ^= 1  # a locator body bit
    with pytest.raises(TamperedPixelsError):
        open_locator(body, opener("pw one"))


def test_jpeg_and_resized_copies_have_no_locator(sealed):
    out, _ = sealed
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, "JPEG", quality=98)
    jpeg = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    resized = np.asarray(Image.fromarray(out).resize((400, 400)))
    for copy in (jpeg, resized):
        assert find_header(copy) is None
        with pytest.raises(TamperedPixelsError, match="pixels were altered; pixel-only recovery needs a lossless copy"):
            open_locator(copy, opener("pw one"))


def test_a_hostile_kdf_cost_is_refused_before_deriving(astronaut):
    key = PassphraseKey.create("pw", Argon2Params(time_cost=40, memory_kib=1024, parallelism=1), allow_weak=True,
                               limits=ARGON2_FORMAT_LIMITS)
    key, salt, keys = new_image_keys(key)
    out = embed(astronaut, RECORD | {"shape": list(astronaut.shape)}, key, salt, keys, avoid=[])
    with pytest.raises(LimitExceededError):
        open_locator(out, opener("pw"))  # default ceiling: time_cost 32


def test_place_is_the_first_band_that_misses_every_face():
    shape = (100, 200, 3)
    count = pixels_needed(300)
    assert count * 3 >= (HEADER_BYTES + 300) * 8
    assert choose_place(shape, count, []) == "bottom"
    bottom = band_rect(shape, "bottom", count)
    assert choose_place(shape, count, [bottom]) == "top"
    everywhere = [band_rect(shape, p, count) for p in PLACES]
    assert choose_place(shape, count, everywhere) == "bottom"  # documented fallback


def test_every_image_gets_its_own_argon2_salt_and_keys():
    key = PassphraseKey.create("pw", WEAK, allow_weak=True)
    (k1, s1, keys1), (k2, s2, keys2) = new_image_keys(key), new_image_keys(key)
    assert len({k1.salt, k2.salt, key.salt}) == 3 and s1 != s2
    assert keys1.content_key != keys2.content_key and keys1.aead != keys2.aead
