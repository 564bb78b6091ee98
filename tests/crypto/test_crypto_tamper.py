"""Damaged, truncated, tampered and hostile containers only ever raise typed FaceveilErrors."""

from __future__ import annotations

import base64
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceveil.crypto import PassphraseKey, open_container, read_info
from faceveil.crypto.primitives import LABEL_BODY, hkdf_sha256, seal_once
from faceveil.errors import FaceveilError, PayloadCorruptError, TamperedPayloadError, WrongKeyError

from .conftest import PASSPHRASE, join_container, rechecksum, split_container

HEADER_START = 22


@pytest.fixture(scope="module")
def openers(identity):
    return [PassphraseKey.for_opening(PASSPHRASE), identity]


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    return blob[:position] + bytes([blob[position] ^ mask]) + blob[position + 1 :]


def test_every_single_byte_flip_is_caught_by_the_checksum(small_container, openers):
    blob, _ = small_container
    assert len(blob) < 2000  # keeps this exhaustive test fast
    for position in range(len(blob)):
        damaged = flip(blob, position)
        with pytest.raises(PayloadCorruptError):
            read_info(damaged)
        with pytest.raises(PayloadCorruptError):
            open_container(damaged, openers)


def test_every_rechecksummed_byte_flip_fails_to_open(small_container, openers):
    """An attacker who recomputes the checksum still never gets a (wrong) result."""
    blob, _ = small_container
    _, header, body = split_container(blob)
    body_start = len(blob) - 32 - len(body)
    for position in range(len(blob) - 32):
        tampered = rechecksum(flip(blob, position))
        with pytest.raises(FaceveilError) as caught:
            open_container(tampered, openers)
        if position >= body_start:
            assert isinstance(caught.value, TamperedPayloadError), position


def test_truncation_at_every_length(small_container):
    blob, _ = small_container
    for length in range(len(blob)):
        with pytest.raises(PayloadCorruptError, match="truncated|magic"):
            read_info(blob[:length])


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda h: h.update(method="blur"), id="method"),
        pytest.param(lambda h: h["faces"][0]["box"].__setitem__(0, 0.0), id="face-box"),
        pytest.param(lambda h: h.update(pixel_sha256="0" * 64), id="pixel-hash"),
        pytest.param(lambda h: h["method_params"].update(color=[255, 0, 0]), id="method-params"),
        pytest.param(lambda h: h["extra"].update(note="x"), id="extra"),
        pytest.param(lambda h: h.update(created="2000-01-01T00:00:00Z"), id="created"),
    ],
)
@pytest.mark.parametrize("who", ["passphrase", "x25519"])
def test_rechecksummed_header_edits_are_tampering(edit, who, small_container, openers):
    blob, _ = small_container
    version, header, body = split_container(blob)
    edit(header)
    opener = openers[0] if who == "passphrase" else openers[1]
    with pytest.raises(TamperedPayloadError):
        open_container(join_container(version, header, body), [opener])


def test_rechecksummed_body_tamper_is_tampering(small_container, openers):
    blob, _ = small_container
    version, header, body = split_container(blob)
    for position in (0, len(body) // 2, len(body) - 1):  # ciphertext start, middle and tag
        with pytest.raises(TamperedPayloadError, match="body"):
            open_container(join_container(version, header, flip(body, position, 0x80)), openers)


def test_swapped_stanza_from_another_container_does_not_open(small_container, astronaut_rgb, passphrase_key, identity):
    from .conftest import face_region, seal_image

    blob, _ = small_container
    other = seal_image(astronaut_rgb, [face_region(astronaut_rgb)], [passphrase_key, identity.recipient])
    version, header, body = split_container(blob)
    header["recipients"] = split_container(other)[1]["recipients"]
    with pytest.raises(TamperedPayloadError):
        open_container(join_container(version, header, body), [identity])


# --- a hostile sealer: valid keys and authentication, malicious plaintext -------------------------


def reseal_body(blob: bytes, content_key, plaintext: bytes) -> bytes:
    """Replace the body with ``plaintext`` encrypted under the right key, exactly as seal() would."""
    version, header, _ = split_container(blob)
    placeholder = join_container(version, header, bytes(len(plaintext) + 16))
    prefix = placeholder[: -32 - len(plaintext) - 16]
    salt = base64.b64decode(header["body_salt"])
    body = seal_once(hkdf_sha256(content_key.to_bytes(), salt=salt, info=LABEL_BODY), plaintext, prefix)
    return rechecksum(prefix + body + bytes(32))


def region_plaintext(x: int, y: int, w: int, h: int, codec: int, data: bytes, secrets: bytes = b"\0\0\0\0") -> bytes:
    return struct.pack(">I", 1) + struct.pack(">IIIIBI", x, y, w, h, codec, len(data)) + data + secrets


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def test_hostile_sealer_check_is_not_vacuous(small_container, identity):
    blob, content_key = small_container
    good = region_plaintext(200, 100, 6, 5, 1, png(np.full((5, 6, 3), 7, np.uint8)))
    opened = open_container(reseal_body(blob, content_key, good), identity)
    assert np.all(opened.regions[0].pixels == 7)


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(region_plaintext(200, 100, 6, 5, 1, png(np.zeros((5000, 6000, 3), np.uint8))), id="png-bomb"),
        pytest.param(region_plaintext(200, 100, 6, 5, 2, zlib.compress(bytes(10**7))), id="zlib-bomb"),
        pytest.param(region_plaintext(200, 100, 6, 5, 1, png(np.zeros((5, 6, 4), np.uint8))), id="png-wrong-channels"),
        pytest.param(region_plaintext(510, 100, 6, 5, 1, png(np.zeros((5, 6, 3), np.uint8))), id="outside-image"),
        pytest.param(region_plaintext(200, 100, 0, 5, 1, b""), id="empty-region"),
        pytest.param(region_plaintext(200, 100, 6, 5, 9, b"xx"), id="unknown-codec"),
        pytest.param(region_plaintext(200, 100, 6, 5, 1, b"\x89PNG garbage"), id="bad-png"),
        pytest.param(struct.pack(">I", 2), id="region-count-mismatch"),
        pytest.param(struct.pack(">I", 1) + b"\xff" * 10, id="ends-early"),
        pytest.param(region_plaintext(200, 100, 6, 5, 1, png(np.zeros((5, 6, 3), np.uint8)), b"\0\0\0\0junk"),
                     id="trailing-bytes"),
        pytest.param(region_plaintext(200, 100, 6, 5, 1, png(np.zeros((5, 6, 3), np.uint8)),
                                      struct.pack(">IH", 1, 2) + b"\xff\xfe" + struct.pack(">I", 0)), id="bad-name"),
    ],
)
def test_hostile_plaintext_is_a_corrupt_payload(plaintext, small_container, identity):
    blob, content_key = small_container
    with pytest.raises(PayloadCorruptError):
        open_container(reseal_body(blob, content_key, plaintext), identity)


def test_hostile_header_json_is_a_corrupt_payload(small_container):
    blob, _ = small_container
    version, header, body = split_container(blob)
    for raw in (b"[" * 100000 + b"]" * 100000, b'{"a":1,"a":2}', b"\xff\xfe", b"{ }", b"null"):
        prefix = struct.pack(">8sHIQ", blob[:8], version, len(raw), len(body)) + raw
        with pytest.raises(PayloadCorruptError, match="header"):
            read_info(rechecksum(prefix + body + bytes(32)))


@pytest.mark.parametrize(
    "faces",
    [[{"score": 1}], [{"box": [1, 2, 3]}], [{"box": [1, 2, 3, "4"]}], [{"box": [1, 2, 3, 4], "landmarks": [[1, 2]]}],
     [{"box": [1, 2, 3, 4], "track_id": 1.5}], ["face"]],
)
def test_malformed_faces_are_refused_when_reading(faces, small_container):
    blob, _ = small_container
    version, header, body = split_container(blob)
    with pytest.raises(PayloadCorruptError, match="face"):
        read_info(join_container(version, header | {"faces": faces}, body))


def test_hostile_lengths_do_not_allocate(small_container):
    blob, _ = small_container
    huge = blob[:10] + struct.pack(">IQ", 2**32 - 1, 2**64 - 1) + blob[22:]
    with pytest.raises(PayloadCorruptError):
        read_info(huge)


# --- property-based: random and mutated bytes ---------------------------------------------------

_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FAST
@given(st.binary(max_size=4096))
def test_random_bytes_only_raise_payload_corrupt(data):
    with pytest.raises(PayloadCorruptError):
        read_info(data)


@_FAST
@given(st.binary(max_size=600))
def test_random_bytes_after_a_valid_preamble(data):
    blob = struct.pack(">8sHIQ", b"\x89FVR\r\n\x1a\n", 1, max(len(data) - 60, 0), 16) + data
    for candidate in (blob, rechecksum(blob) if len(blob) > 32 else blob):
        with pytest.raises(PayloadCorruptError):
            read_info(candidate)


mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 10**6), st.integers(0, 255)),
    min_size=1,
    max_size=4,
)


def mutate(blob: bytes, ops) -> bytes:
    data = bytearray(blob)
    for op, where, value in ops:
        i = where % max(len(data), 1)
        if op == "flip" and data:
            data[i] ^= value or 1
        elif op == "set" and data and data[i] != value:
            data[i] = value
        elif op == "insert":
            data.insert(i, value)
        elif op == "delete" and data:
            del data[i]
    return bytes(data)


@_FAST
@given(ops=mutations, fix_checksum=st.booleans())
def test_mutated_containers_never_open_and_only_raise_typed_errors(small_container, openers, ops, fix_checksum):
    blob, _ = small_container
    mutated = mutate(blob, ops)
    if fix_checksum and len(mutated) > 32:
        mutated = rechecksum(mutated)
    if mutated == blob:  # e.g. only the checksum was changed and then recomputed
        return
    try:
        read_info(mutated)
    except FaceveilError as exc:
        assert isinstance(exc, PayloadCorruptError)
    with pytest.raises((PayloadCorruptError, WrongKeyError, TamperedPayloadError)):
        open_container(mutated, openers)
