"""faceveil.io.carriers: payloads ride inside PNG/JPEG/WebP files without changing the decoded pixels."""

from __future__ import annotations

import io
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from io_helpers import pillow_bytes, pillow_pixels
from PIL import Image

from faceveil.errors import InputError, PayloadCorruptError
from faceveil.io.carriers import (
    JPEG_IDENTIFIER,
    JPEG_MAX_SEGMENT_DATA,
    PNG_CHUNK_TYPE,
    SIDECAR_SUFFIX,
    WEBP_CHUNK_FOURCC,
    detect_format,
    embed_payload,
    extract_payload,
    sidecar_path,
    strip_payload,
    supports_embedding,
)
from faceveil.io.images import encode_image

PAYLOAD_SIZES = [0, 1, 65_000, 200_000, 5_000_000]


def _with_alpha(rgb: np.ndarray) -> np.ndarray:
    alpha = np.linspace(0, 255, rgb.shape[1], dtype=np.uint8)[None, :, None].repeat(rgb.shape[0], axis=0)
    return np.concatenate([rgb, alpha], axis=2)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "FaceveilTestCamera"
    return exif


@pytest.fixture(scope="module")
def hosts(small_astronaut, hopper_jpeg_bytes) -> dict[str, bytes]:
    """Carrier-capable files of every flavour: name -> encoded bytes."""
    rgba = _with_alpha(small_astronaut)
    return {
        "png_rgb": encode_image(small_astronaut, "PNG"),
        "png_rgba_exif": pillow_bytes(rgba, "PNG", exif=_exif()),
        "jpeg_camera": hopper_jpeg_bytes,
        "jpeg_exif": pillow_bytes(small_astronaut, "JPEG", exif=_exif()),
        "jpeg_bare": pillow_bytes(small_astronaut, "JPEG"),
        "jpeg_progressive": pillow_bytes(small_astronaut, "JPEG", progressive=True),
        "webp_lossless": encode_image(small_astronaut, "WEBP"),
        "webp_lossless_alpha": encode_image(rgba, "WEBP"),
        "webp_lossy": pillow_bytes(small_astronaut, "WEBP", quality=80),
        "webp_lossy_alpha": pillow_bytes(rgba, "WEBP", quality=80),
        "webp_exif": pillow_bytes(small_astronaut, "WEBP", lossless=True, exif=_exif()),
    }


HOST_NAMES = [
    "png_rgb", "png_rgba_exif", "jpeg_camera", "jpeg_exif", "jpeg_bare", "jpeg_progressive",
    "webp_lossless", "webp_lossless_alpha", "webp_lossy", "webp_lossy_alpha", "webp_exif",
]  # fmt: skip


def _pillow_mode(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode


@pytest.mark.parametrize("size", PAYLOAD_SIZES)
@pytest.mark.parametrize("host", HOST_NAMES)
def test_payload_round_trips_and_pixels_are_unchanged(hosts, host, size):
    original = hosts[host]
    payload = os.urandom(size)
    carrier = embed_payload(original, payload)
    assert extract_payload(carrier) == payload
    assert _pillow_mode(carrier) == _pillow_mode(original)
    np.testing.assert_array_equal(pillow_pixels(carrier), pillow_pixels(original))
    # A second, independent decoder (OpenCV's own libjpeg/libpng/libwebp) must accept it too.
    decoded = cv2.imdecode(np.frombuffer(carrier, np.uint8), cv2.IMREAD_UNCHANGED)
    expected = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and expected is not None
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("host", HOST_NAMES)
def test_files_without_payload_and_stripped_files(hosts, host):
    original = hosts[host]
    assert extract_payload(original) is None
    carrier = embed_payload(original, b"secret recovery data")
    stripped = strip_payload(carrier)
    assert extract_payload(stripped) is None
    assert b"secret recovery data" not in stripped
    np.testing.assert_array_equal(pillow_pixels(stripped), pillow_pixels(original))
    if not host.startswith("webp"):
        assert stripped == original  # PNG/JPEG: exactly the bytes we started from
    assert strip_payload(original) == original


@pytest.mark.parametrize("host", ["png_rgb", "jpeg_exif", "webp_lossy"])
def test_embedding_again_replaces_the_payload(hosts, host):
    twice = embed_payload(embed_payload(hosts[host], b"first" * 30_000), b"second")
    assert extract_payload(twice) == b"second"
    assert b"first" not in twice


def test_png_chunk_is_one_ancillary_private_unsafe_to_copy_chunk_before_iend(hosts):
    carrier = embed_payload(hosts["png_rgb"], b"x" * 1000)
    chunk_type = PNG_CHUNK_TYPE
    assert chunk_type[0] & 0x20 and chunk_type[1] & 0x20  # ancillary, private
    assert not chunk_type[2] & 0x20 and not chunk_type[3] & 0x20  # reserved bit 0, unsafe to copy
    chunks = _png_chunk_list(carrier)
    assert [kind for kind, _ in chunks][-2:] == [PNG_CHUNK_TYPE, b"IEND"]
    assert [kind for kind, _ in chunks].count(PNG_CHUNK_TYPE) == 1


def _png_chunk_list(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, checking every CRC: an independent PNG reader for the test."""
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def _jpeg_markers(data: bytes) -> list[tuple[int, int, bytes]]:
    """(marker, segment length, body) up to SOS: an independent JPEG header reader for the test."""
    pos, markers = 2, []
    while data[pos + 1] != 0xDA:
        marker, length = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        markers.append((marker, length, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return markers


@pytest.mark.parametrize("host", ["jpeg_camera", "jpeg_exif"])
def test_jpeg_segments_follow_app_headers_and_precede_tables(hosts, host):
    size = 3 * JPEG_MAX_SEGMENT_DATA + 5
    markers = _jpeg_markers(embed_payload(hosts[host], os.urandom(size)))
    ours = [i for i, (marker, _, body) in enumerate(markers) if marker == 0xEF and body.startswith(JPEG_IDENTIFIER)]
    assert len(ours) == 4 and ours == list(range(ours[0], ours[0] + 4))
    original = [marker for marker, _, _ in _jpeg_markers(hosts[host])]
    leading_app_headers = next(i for i, marker in enumerate(original) if marker not in (0xE0, 0xE1))
    assert leading_app_headers >= 1 and ours[0] == leading_app_headers
    assert [marker for marker, _, _ in markers[: ours[0]]] == original[: ours[0]]
    first_table = next(i for i, (marker, _, _) in enumerate(markers) if marker in (0xDB, 0xC0, 0xC2, 0xC4))
    assert ours[-1] < first_table
    assert all(markers[i][1] <= 0xFFFF for i in ours)
    headers = [struct.unpack_from(">BHH", markers[i][2], len(JPEG_IDENTIFIER)) for i in ours]
    assert headers == [(1, seq, 4) for seq in range(4)]


@pytest.mark.parametrize("size", [JPEG_MAX_SEGMENT_DATA - 1, JPEG_MAX_SEGMENT_DATA, JPEG_MAX_SEGMENT_DATA + 1])
def test_jpeg_segment_boundaries(hosts, size):
    payload = os.urandom(size)
    carrier = embed_payload(hosts["jpeg_bare"], payload)
    assert extract_payload(carrier) == payload
    segments = [m for m in _jpeg_markers(carrier) if m[0] == 0xEF]
    assert len(segments) == (1 if size <= JPEG_MAX_SEGMENT_DATA else 2)
    assert max(length for _, length, _ in segments) <= 0xFFFF


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    pos, chunks = 12, []
    while pos < len(data):
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        chunks.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + size % 2
    assert pos == len(data)
    return chunks


@pytest.mark.parametrize(
    ("host", "alpha"),
    [
        ("webp_lossless", False),
        ("webp_lossless_alpha", True),
        ("webp_lossy", False),
        ("webp_lossy_alpha", True),
        ("webp_exif", False),
    ],
)
def test_webp_becomes_valid_extended_format(hosts, small_astronaut, host, alpha):
    chunks = _webp_chunks(embed_payload(hosts[host], b"odd-length payload!"))
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"VP8X" and kinds[-1] == WEBP_CHUNK_FOURCC and kinds.count(WEBP_CHUNK_FOURCC) == 1
    vp8x = chunks[0][1]
    width = int.from_bytes(vp8x[4:7], "little") + 1
    height = int.from_bytes(vp8x[7:10], "little") + 1
    assert (height, width) == small_astronaut.shape[:2]
    assert bool(vp8x[0] & 0x10) == alpha
    assert bool(vp8x[0] & 0x08) == (b"EXIF" in kinds)
    assert not vp8x[0] & (0x20 | 0x04 | 0x02)  # no ICC, XMP, animation


def test_damaged_jpeg_segment_sequences_are_reported(hosts):
    carrier = embed_payload(hosts["jpeg_exif"], os.urandom(3 * JPEG_MAX_SEGMENT_DATA))
    segments = [(m, b) for m, _, b in _jpeg_markers(carrier) if m == 0xEF]
    raw = [struct.pack(">BBH", 0xFF, 0xEF, len(body) + 2) + body for _, body in segments]
    start = carrier.index(raw[0])
    end = carrier.index(raw[-1]) + len(raw[-1])

    def rebuild(parts: list[bytes]) -> bytes:
        return carrier[:start] + b"".join(parts) + carrier[end:]

    assert extract_payload(rebuild(raw)) == extract_payload(carrier)
    missing, swapped, repeated = [raw[0], raw[2]], [raw[1], raw[0], raw[2]], [raw[0], raw[1], raw[1], raw[2]]
    for damaged in (rebuild(missing), rebuild(swapped), rebuild(repeated)):
        with pytest.raises(PayloadCorruptError, match="out of sequence"):
            extract_payload(damaged)
    bad_version = bytearray(raw[1])
    bad_version[4 + len(JPEG_IDENTIFIER)] = 99
    with pytest.raises(PayloadCorruptError, match="version"):
        extract_payload(rebuild([raw[0], bytes(bad_version), raw[2]]))


def test_damaged_png_payload_fails_its_crc(hosts):
    carrier = bytearray(embed_payload(hosts["png_rgb"], b"recovery" * 100))
    carrier[carrier.index(b"recovery") + 3] ^= 0x01
    with pytest.raises(PayloadCorruptError, match="CRC"):
        extract_payload(bytes(carrier))


@pytest.mark.parametrize("host", ["png_rgb", "webp_lossy"])
def test_file_cut_inside_the_payload_is_corrupt_payload(hosts, host):
    carrier = embed_payload(hosts[host], os.urandom(10_000))
    with pytest.raises(PayloadCorruptError, match="truncated"):
        extract_payload(carrier[: len(carrier) - 5_000])


def test_formats_without_carrier():
    tiff = encode_image(np.zeros((8, 8, 3), np.uint8), "TIFF")
    bmp = encode_image(np.zeros((8, 8, 3), np.uint8), "BMP")
    for data, name in ((tiff, "TIFF"), (bmp, "BMP")):
        assert detect_format(data) == name
        assert extract_payload(data) is None
        assert strip_payload(data) == data
        with pytest.raises(InputError, match="sidecar"):
            embed_payload(data, b"x")
    with pytest.raises(InputError, match="not a PNG, JPEG, WebP"):
        extract_payload(b"GIF89a" + bytes(100))
    with pytest.raises(InputError, match="not a PNG, JPEG, WebP"):
        embed_payload(b"", b"x")


def test_supports_embedding_and_sidecar_path(tmp_path):
    assert [supports_embedding(f) for f in ("PNG", "jpeg", "JPG", "webp", "TIFF", "BMP")] == [True] * 4 + [False] * 2
    assert sidecar_path(tmp_path / "out.tif") == tmp_path / f"out.tif{SIDECAR_SUFFIX}"
    assert sidecar_path("photos/a.b.bmp").name == "a.b.bmp.faceveil"


def test_foreign_app15_segments_are_left_alone(hosts):
    foreign_body = b"OTHERTOOL\x00" + b"z" * 50
    foreign = b"\xff\xef" + struct.pack(">H", len(foreign_body) + 2) + foreign_body
    host = hosts["jpeg_bare"]
    with_foreign = host[:2] + foreign + host[2:]
    assert extract_payload(with_foreign) is None
    carrier = embed_payload(with_foreign, b"ours")
    assert extract_payload(carrier) == b"ours"
    assert foreign in carrier and foreign in strip_payload(carrier)
