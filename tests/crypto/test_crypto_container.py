"""Sealing, reading and opening recovery containers built from a real face photo."""

from __future__ import annotations

import json
import struct
import time
import zlib

import numpy as np
import pytest

from faceveil.crypto import (
    Argon2Params,
    ContentKey,
    PassphraseKey,
    Region,
    X25519Identity,
    open_container,
    pixel_digest,
    read_info,
    verify_pixels,
)
from faceveil.errors import KeyMaterialError, PayloadCorruptError, TamperedPixelsError, WrongKeyError

from .conftest import PASSPHRASE, blacked_out, face_region, join_container, seal_image, split_container


def assert_regions_equal(actual: list[Region], expected: list[Region]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert (a.x, a.y) == (e.x, e.y)
        assert a.pixels.dtype == np.uint8 and a.pixels.shape == e.pixels.shape
        assert np.array_equal(a.pixels, e.pixels)


@pytest.mark.parametrize("mode", ["passphrase", "x25519", "both"])
def test_round_trip_restores_exact_face_pixels(mode, astronaut_rgb, passphrase_key, identity):
    recipients = {"passphrase": [passphrase_key], "x25519": [identity.recipient],
                  "both": [passphrase_key, identity.recipient]}[mode]
    regions = [face_region(astronaut_rgb), face_region(astronaut_rgb, (10, 300, 90, 420))]
    blob = seal_image(astronaut_rgb, regions, recipients, secrets={"embedding": bytes(range(256)) * 2},
                      extra={"format": "PNG"})
    openers = {"passphrase": [PassphraseKey.for_opening(PASSPHRASE)], "x25519": [identity]}
    for kind in ("passphrase", "x25519"):
        if mode in (kind, "both"):
            opened = open_container(blob, openers[kind])
            assert_regions_equal(opened.regions, regions)
            assert opened.secrets == {"embedding": bytes(range(256)) * 2}
            assert opened.info.extra == {"format": "PNG"}

    restored = blacked_out(astronaut_rgb, regions)
    for r in opened.regions:
        restored[r.y : r.y + r.height, r.x : r.x + r.width] = r.pixels
    assert np.array_equal(restored, astronaut_rgb)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_channel_count_round_trips(channels, astronaut_rgb, identity):
    rgb = astronaut_rgb[:200, :200]
    grey = rgb.mean(axis=2, keepdims=True).astype(np.uint8)
    image = {1: grey, 2: np.concatenate([grey, rgb[:, :, :1]], 2), 3: rgb,
             4: np.concatenate([rgb, rgb[:, :, 1:2]], 2)}[channels]
    regions = [face_region(np.ascontiguousarray(image), (40, 30, 140, 150))]
    blob = seal_image(image, regions, identity.recipient)
    assert_regions_equal(open_container(blob, identity).regions, regions)


def test_read_info_needs_no_key_and_shows_no_secrets(astronaut_rgb, passphrase_key, identity):
    regions = [face_region(astronaut_rgb)]
    blob = seal_image(astronaut_rgb, regions, [passphrase_key, identity.recipient])
    info = read_info(blob)
    assert info.version == 1 and info.method == "solid" and info.method_params == {"color": [0, 0, 0]}
    assert info.image_shape == (512, 512, 3) and info.region_count == 1 and info.size == len(blob)
    assert info.faces == [{"box": [160.0, 40.0, 320.0, 240.0], "score": 0.9}]
    assert info.pixel_sha256 == pixel_digest(blacked_out(astronaut_rgb, regions))
    assert info.recipients == [
        {"type": "passphrase", "kdf": "argon2id", "time_cost": 1, "memory_kib": 1024, "parallelism": 1},
        {"type": "x25519", "key_id": identity.key_id},
    ]
    assert info.created.endswith("Z")
    json.dumps(info.to_dict())  # inspect output is plain JSON


def test_argon2_params_are_stored_and_used(astronaut_rgb):
    params = Argon2Params(time_cost=2, memory_kib=2048, parallelism=2)
    key = PassphraseKey.create(PASSPHRASE, params, allow_weak=True)
    blob = seal_image(astronaut_rgb, [face_region(astronaut_rgb)], key)
    stanza = read_info(blob).recipients[0]
    assert (stanza["time_cost"], stanza["memory_kib"], stanza["parallelism"]) == (2, 2048, 2)

    opener = PassphraseKey.for_opening(PASSPHRASE)
    open_container(blob, opener)
    # The opener derived with exactly the stored parameters (the cache key records them).
    assert [p for (_salt, p) in opener._cache] == [params]

    # Editing the stored parameters (and fixing the checksum) makes the passphrase useless.
    version, header, body = split_container(blob)
    header["recipients"][0]["time_cost"] = 1
    with pytest.raises(WrongKeyError):
        open_container(join_container(version, header, body), PassphraseKey.for_opening(PASSPHRASE))


def test_verify_pixels_detects_one_flipped_pixel(astronaut_rgb, identity):
    regions = [face_region(astronaut_rgb)]
    anonymized = blacked_out(astronaut_rgb, regions)
    info = read_info(seal_image(astronaut_rgb, regions, identity.recipient))
    verify_pixels(info, anonymized)
    touched = anonymized.copy()
    touched[400, 17, 1] ^= 1
    with pytest.raises(TamperedPixelsError):
        verify_pixels(info, touched)
    with pytest.raises(TamperedPixelsError, match="512x512x3"):
        verify_pixels(info, anonymized[:, :-1])


def test_pixel_digest_covers_shape_and_dtype():
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert pixel_digest(pixels) == pixel_digest(pixels.copy(order="F"))  # layout-independent
    assert pixel_digest(pixels) != pixel_digest(pixels.reshape(4, 2, 3))
    assert pixel_digest(pixels) != pixel_digest(pixels.view(np.int8))
    assert pixel_digest(pixels[:, :, :1]) == pixel_digest(pixels[:, :, 0])  # (H, W) is (H, W, 1)


def test_layout_matches_docs(astronaut_rgb, identity):
    blob = seal_image(astronaut_rgb, [face_region(astronaut_rgb)], identity.recipient)
    magic, version, header_len, body_len = struct.unpack(">8sHIQ", blob[:22])
    assert magic == b"\x89FVR\r\n\x1a\n" and version == 1
    assert len(blob) == 22 + header_len + body_len + 32
    header = blob[22 : 22 + header_len]
    assert header == json.dumps(json.loads(header), sort_keys=True, separators=(",", ":")).encode()


def test_face_region_is_compressed_and_sealed_quickly(astronaut_rgb, identity):
    region = face_region(astronaut_rgb, (110, 20, 410, 320))  # 300x300 around the face
    raw = region.pixels.tobytes()
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        blob = seal_image(astronaut_rgb, [region], identity.recipient)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1
    # PNG prediction beats plain zlib of the raw pixels, which in turn is well below raw size.
    assert len(blob) < len(zlib.compress(raw, 6)) < len(raw)


def test_content_key_is_returned_and_bodies_differ_when_reused(astronaut_rgb, identity):
    content_key = ContentKey.generate()
    regions = [face_region(astronaut_rgb)]
    first = seal_image(astronaut_rgb, regions, identity.recipient, content_key=content_key)
    second = seal_image(astronaut_rgb, regions, identity.recipient, content_key=content_key)
    assert open_container(first, identity).content_key == content_key
    assert split_container(first)[2] != split_container(second)[2]  # fresh body key per container


def test_container_without_regions(astronaut_rgb, identity):
    blob = seal_image(astronaut_rgb, [], identity.recipient, faces=[])
    opened = open_container(blob, identity)
    assert opened.regions == [] and opened.info.region_count == 0


def test_seal_rejects_inconsistent_arguments(astronaut_rgb, identity):
    inside = face_region(astronaut_rgb)
    with pytest.raises(ValueError, match="outside"):
        seal_image(astronaut_rgb, [Region(450, 450, inside.pixels)], identity.recipient)
    with pytest.raises(ValueError, match="channels"):
        seal_image(astronaut_rgb, [Region(0, 0, inside.pixels[:, :, :1])], identity.recipient)
    with pytest.raises(KeyMaterialError):
        seal_image(astronaut_rgb, [inside], [])
    with pytest.raises(ValueError):
        seal_image(astronaut_rgb, [inside], identity.recipient, method_params={"sigma": float("nan")})
    with pytest.raises(ValueError, match="box"):
        seal_image(astronaut_rgb, [inside], identity.recipient, faces=[{"score": 0.5}])


def test_pipeline_notes_in_face_dicts_are_kept(astronaut_rgb, identity):
    face = {"box": [160.0, 40.0, 320.0, 240.0], "score": 0.9, "method": "blur", "rect": [160, 40, 160, 200],
            "landmarks": [[200.0, 120.0], [260.0, 120.0], [230.0, 160.0], [205.0, 200.0], [255.0, 200.0]]}
    blob = seal_image(astronaut_rgb, [face_region(astronaut_rgb)], identity.recipient, faces=[face])
    assert read_info(blob).faces == [face]


def test_wrong_keys_are_wrong_key_errors(small_container):
    blob, _ = small_container
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        open_container(blob, PassphraseKey.for_opening("wrong"))
    with pytest.raises(WrongKeyError, match="not a recipient"):
        open_container(blob, X25519Identity.generate())


def test_bad_magic_version_and_trailing_bytes(small_container):
    blob, _ = small_container
    with pytest.raises(PayloadCorruptError, match="magic"):
        read_info(b"GIF89a" + blob[6:])
    with pytest.raises(PayloadCorruptError, match="magic"):
        read_info(b"hello")
    version, header, body = split_container(blob)
    with pytest.raises(PayloadCorruptError, match="version 3"):
        read_info(join_container(3, header, body))
    with pytest.raises(PayloadCorruptError, match="trailing"):
        read_info(blob + b"\x00")
    with pytest.raises(PayloadCorruptError, match=r"truncated \(expected \d+ bytes, got \d+\)"):
        read_info(blob[:-1])


def test_source_file_container_is_version_2_and_bound_to_it(astronaut_rgb, identity):
    """Source coding (the original file instead of regions) is format version 2: the version is bound
    into every recipient stanza, so relabelling it version 1 (a reader that would restore no regions
    and hand back the anonymized pixels) fails to open instead of recovering nothing."""
    from faceveil.errors import TamperedPayloadError

    original = b"\xff\xd8 any original file bytes \xff\xd9" * 50
    blob = seal_image(astronaut_rgb, [], [identity.recipient], source_file=original)
    opened = open_container(blob, [identity])
    assert opened.info.version == 2 and opened.info.region_count == 0
    assert opened.source_file == original
    _, header, body = split_container(blob)
    with pytest.raises((WrongKeyError, TamperedPayloadError, PayloadCorruptError)):
        open_container(join_container(1, header, body), [identity])
    region = face_region(astronaut_rgb)
    with pytest.raises(ValueError, match="no regions"):
        seal_image(astronaut_rgb, [region], [identity.recipient], source_file=original)
    v1 = seal_image(astronaut_rgb, [region], [identity.recipient], secrets={"source.file": original})
    assert open_container(v1, [identity]).source_file is None  # only version 2 means "the original file"
