"""Carry the recovery payload (opaque bytes, up to tens of MB) inside the image file itself.

Each carrier is a container-level addition that image decoders skip, so the pixels decode unchanged:

- PNG: one private ancillary chunk ``fvIL`` before IEND (ancillary, private, unsafe-to-copy: an
  editor that changes the pixels must drop it, because the payload is bound to them).
- JPEG: APP15 segments ``FF EF``, each ``FACEVEIL\\0 | version u8 | seq u16 | total u16 | data``
  (big-endian), placed after the leading APP0/APP1 headers; payloads above one segment are split.
- WebP: a RIFF chunk ``FVIL`` at the end of an extended-format (VP8X) file; simple files are
  converted to extended format first because simple files may hold only the bitstream chunk.

Formats without a carrier (TIFF, BMP, Netpbm) use a sidecar file next to the image (:func:`sidecar_path`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faceveil.errors import InputError, PayloadCorruptError

SIDECAR_SUFFIX = ".faceveil"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHUNK_TYPE = b"fvIL"

JPEG_APP15 = 0xEF
JPEG_IDENTIFIER = b"FACEVEIL\x00"
JPEG_CARRIER_VERSION = 1
_JPEG_SEGMENT_HEADER = struct.Struct(">BHH")  # version, seq, total (after the identifier)
_JPEG_MAX_SEGMENT_LENGTH = 0xFFFF  # the length field counts itself (2 bytes)
JPEG_MAX_SEGMENT_DATA = _JPEG_MAX_SEGMENT_LENGTH - 2 - len(JPEG_IDENTIFIER) - _JPEG_SEGMENT_HEADER.size

WEBP_CHUNK_FOURCC = b"FVIL"

_EMBEDDABLE = ("PNG", "JPEG", "WEBP")
_SIDECAR_ONLY = ("TIFF", "BMP", "PPM")


def detect_format(image_bytes: bytes) -> str | None:
    """Container format from the leading magic bytes: "PNG" | "JPEG" | "WEBP" | "TIFF" | "BMP" | "PPM"
    (Netpbm P2/P3/P5/P6) | None."""
    if image_bytes.startswith(PNG_SIGNATURE):
        return "PNG"
    if image_bytes.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(image_bytes) >= 12 and image_bytes[:4] == b"RIFF" and image_bytes[8:12] == b"WEBP":
        return "WEBP"
    if image_bytes[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if image_bytes.startswith(b"BM"):
        return "BMP"
    if len(image_bytes) >= 3 and image_bytes[:2] in (b"P2", b"P3", b"P5", b"P6") and image_bytes[2:3].isspace():
        return "PPM"
    return None


def supports_embedding(fmt: str) -> bool:
    """Whether the format (Pillow name, case-insensitive; "JPG" accepted) can carry a payload inside."""
    upper = fmt.upper().lstrip(".")
    return {"JPG": "JPEG"}.get(upper, upper) in _EMBEDDABLE


def sidecar_path(image_path: str | Path) -> Path:
    """Where the payload goes for formats without a carrier: ``out.tif`` -> ``out.tif.faceveil``."""
    path = Path(image_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def embed_payload(image_bytes: bytes, payload: bytes) -> bytes:
    """Return ``image_bytes`` with ``payload`` embedded, replacing any payload already there."""
    return _carrier_for(image_bytes).embed(image_bytes, bytes(payload))


def extract_payload(image_bytes: bytes) -> bytes | None:
    """The embedded payload, or None if the file has none (TIFF/BMP/Netpbm never do).

    PayloadCorruptError if our carrier is present but inconsistent (bad CRC, missing or repeated
    segment, truncated chunk); InputError if the bytes are not a supported image.
    """
    fmt = detect_format(image_bytes)
    if fmt in _SIDECAR_ONLY:
        return None
    return _carrier_for(image_bytes).extract(image_bytes)


def strip_payload(image_bytes: bytes) -> bytes:
    """Return ``image_bytes`` without our payload (unchanged for TIFF/BMP/Netpbm or when none is present)."""
    fmt = detect_format(image_bytes)
    if fmt in _SIDECAR_ONLY:
        return image_bytes
    return _carrier_for(image_bytes).strip(image_bytes)


@dataclass(frozen=True)
class _Carrier:
    embed: Callable[[bytes, bytes], bytes]
    extract: Callable[[bytes], bytes | None]
    strip: Callable[[bytes], bytes]


def _carrier_for(image_bytes: bytes) -> _Carrier:
    fmt = detect_format(image_bytes)
    if fmt == "PNG":
        return _Carrier(_png_embed, _png_extract, _png_strip)
    if fmt == "JPEG":
        return _Carrier(_jpeg_embed, _jpeg_extract, _jpeg_strip)
    if fmt == "WEBP":
        return _Carrier(_webp_embed, _webp_extract, _webp_strip)
    if fmt in _SIDECAR_ONLY:
        raise InputError(
            f"{fmt} files cannot carry an embedded payload; write a sidecar file ({SIDECAR_SUFFIX}) instead"
        )
    raise InputError("not a PNG, JPEG, WebP, TIFF, BMP or Netpbm file (unrecognised leading bytes)")


# --------------------------------------------------------------------------------------------
# PNG: [length u32][type 4][data][crc32 of type+data], all big-endian


@dataclass(frozen=True)
class _PngChunk:
    type: bytes
    start: int  # offset of the length field
    end: int  # offset after the CRC
    data_start: int
    length: int


def _png_chunks(image_bytes: bytes) -> Iterator[_PngChunk]:
    """Walk the chunks after the signature up to and including IEND."""
    pos = len(PNG_SIGNATURE)
    size = len(image_bytes)
    while True:
        if pos + 8 > size:
            raise InputError("damaged PNG: file ends before IEND")
        length, chunk_type = struct.unpack_from(">I4s", image_bytes, pos)
        end = pos + 12 + length
        if end > size:
            error = PayloadCorruptError if chunk_type == PNG_CHUNK_TYPE else InputError
            raise error(f"damaged PNG: chunk {chunk_type!r} is truncated")
        yield _PngChunk(chunk_type, pos, end, pos + 8, length)
        if chunk_type == b"IEND":
            return
        pos = end


def _png_strip(image_bytes: bytes) -> bytes:
    parts = [PNG_SIGNATURE]
    parts += [image_bytes[c.start : c.end] for c in _png_chunks(image_bytes) if c.type != PNG_CHUNK_TYPE]
    return b"".join(parts)


def _png_embed(image_bytes: bytes, payload: bytes) -> bytes:
    if len(payload) > 0x7FFFFFFF:
        raise InputError("payload too large for a PNG chunk (2 GiB limit)")
    parts = [PNG_SIGNATURE]
    for chunk in _png_chunks(image_bytes):
        if chunk.type == PNG_CHUNK_TYPE:
            continue
        if chunk.type == b"IEND":
            crc = zlib.crc32(payload, zlib.crc32(PNG_CHUNK_TYPE))
            parts += [struct.pack(">I4s", len(payload), PNG_CHUNK_TYPE), payload, struct.pack(">I", crc)]
        parts.append(image_bytes[chunk.start : chunk.end])
    return b"".join(parts)


def _png_extract(image_bytes: bytes) -> bytes | None:
    ours = [c for c in _png_chunks(image_bytes) if c.type == PNG_CHUNK_TYPE]
    if not ours:
        return None
    if len(ours) > 1:
        raise PayloadCorruptError(f"PNG holds {len(ours)} faceveil payload chunks; expected one")
    chunk = ours[0]
    data = image_bytes[chunk.data_start : chunk.data_start + chunk.length]
    (stored_crc,) = struct.unpack_from(">I", image_bytes, chunk.end - 4)
    if zlib.crc32(data, zlib.crc32(PNG_CHUNK_TYPE)) != stored_crc:
        raise PayloadCorruptError("PNG faceveil payload chunk fails its CRC (the file was damaged)")
    return data


# --------------------------------------------------------------------------------------------
# JPEG: markers FF xx; segments carry a u16 big-endian length that counts itself

_JPEG_SOS = 0xDA
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
_JPEG_LEADING_HEADERS = {0xE0, 0xE1}  # APP0 (JFIF), APP1 (EXIF / XMP) stay first


@dataclass(frozen=True)
class _JpegSegment:
    marker: int
    start: int  # offset of the FF byte
    end: int  # offset after the segment
    body: bytes  # bytes after the length field

    @property
    def is_ours(self) -> bool:
        return self.marker == JPEG_APP15 and self.body.startswith(JPEG_IDENTIFIER)


def _jpeg_header_segments(image_bytes: bytes) -> tuple[list[_JpegSegment], int]:
    """Segments between SOI and the first SOS, and the offset of that SOS marker."""
    pos, size = 2, len(image_bytes)
    segments: list[_JpegSegment] = []
    while True:
        if pos + 2 > size:
            raise InputError("damaged JPEG: file ends before the image data (no SOS marker)")
        if image_bytes[pos] != 0xFF:
            raise InputError(f"damaged JPEG: expected a marker at byte {pos}")
        marker = image_bytes[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _JPEG_SOS:
            return segments, pos
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            raise InputError("damaged JPEG: file ends inside a segment header")
        (length,) = struct.unpack_from(">H", image_bytes, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > size:
            is_ours = marker == JPEG_APP15 and image_bytes[pos + 4 : pos + 4 + len(JPEG_IDENTIFIER)] == JPEG_IDENTIFIER
            error = PayloadCorruptError if is_ours else InputError
            raise error(f"damaged JPEG: segment FF{marker:02X} at byte {pos} has an invalid length")
        segments.append(_JpegSegment(marker, pos, end, image_bytes[pos + 4 : end]))
        pos = end


def _jpeg_payload_segments(payload: bytes) -> list[bytes]:
    pieces = [payload[i : i + JPEG_MAX_SEGMENT_DATA] for i in range(0, len(payload), JPEG_MAX_SEGMENT_DATA)] or [b""]
    if len(pieces) > 0xFFFF:
        raise InputError(f"payload too large for JPEG APP15 segments ({len(payload):,} bytes)")
    segments = []
    for seq, piece in enumerate(pieces):
        body = JPEG_IDENTIFIER + _JPEG_SEGMENT_HEADER.pack(JPEG_CARRIER_VERSION, seq, len(pieces)) + piece
        segments.append(struct.pack(">BBH", 0xFF, JPEG_APP15, len(body) + 2) + body)
    return segments


def _jpeg_strip(image_bytes: bytes) -> bytes:
    segments, _ = _jpeg_header_segments(image_bytes)
    parts, pos = [], 0
    for segment in segments:
        if segment.is_ours:
            parts.append(image_bytes[pos : segment.start])
            pos = segment.end
    parts.append(image_bytes[pos:])
    return b"".join(parts)


def _jpeg_embed(image_bytes: bytes, payload: bytes) -> bytes:
    stripped = _jpeg_strip(image_bytes)
    segments, sos = _jpeg_header_segments(stripped)
    insert_at = 2  # after SOI
    for segment in segments:
        if segment.marker not in _JPEG_LEADING_HEADERS:
            break
        insert_at = segment.end
    return b"".join([stripped[:insert_at], *_jpeg_payload_segments(payload), stripped[insert_at:]])


def _jpeg_extract(image_bytes: bytes) -> bytes | None:
    segments, _ = _jpeg_header_segments(image_bytes)
    ours = [s.body[len(JPEG_IDENTIFIER) :] for s in segments if s.is_ours]
    if not ours:
        return None
    header_size = _JPEG_SEGMENT_HEADER.size
    pieces = []
    for expected_seq, body in enumerate(ours):
        if len(body) < header_size:
            raise PayloadCorruptError("JPEG faceveil segment too short for its header")
        version, seq, total = _JPEG_SEGMENT_HEADER.unpack_from(body)
        if version != JPEG_CARRIER_VERSION:
            raise PayloadCorruptError(f"JPEG faceveil segment has unknown carrier version {version}")
        if total != len(ours) or seq != expected_seq:
            raise PayloadCorruptError(
                f"JPEG faceveil segments out of sequence: found {len(ours)} segments, segment "
                f"{expected_seq} says it is {seq} of {total}"
            )
        pieces.append(body[header_size:])
    return b"".join(pieces)


# --------------------------------------------------------------------------------------------
# WebP: RIFF <size u32 LE> WEBP, then chunks [fourcc][size u32 LE][data][pad to even]

_VP8X_ICC, _VP8X_ALPHA, _VP8X_EXIF, _VP8X_XMP, _VP8X_ANIMATION = 0x20, 0x10, 0x08, 0x04, 0x02


@dataclass(frozen=True)
class _RiffChunk:
    fourcc: bytes
    data: bytes

    def serialise(self) -> bytes:
        padding = b"\x00" if len(self.data) % 2 else b""
        return self.fourcc + struct.pack("<I", len(self.data)) + self.data + padding


def _webp_chunks(image_bytes: bytes) -> list[_RiffChunk]:
    (riff_size,) = struct.unpack_from("<I", image_bytes, 4)
    declared_end = 8 + riff_size
    # Walk what is there even if the file is cut short, so a cut inside our chunk is reported as such.
    end = min(declared_end, len(image_bytes))
    chunks, pos = [], 12
    while pos < end:
        if pos + 8 > end:
            raise InputError("damaged WebP: truncated chunk header")
        fourcc, size = struct.unpack_from("<4sI", image_bytes, pos)
        data_end = pos + 8 + size
        if data_end > end:
            error = PayloadCorruptError if fourcc == WEBP_CHUNK_FOURCC else InputError
            raise error(f"damaged WebP: chunk {fourcc!r} is truncated")
        chunks.append(_RiffChunk(fourcc, image_bytes[pos + 8 : data_end]))
        pos = data_end + (size % 2)
    if declared_end > len(image_bytes):
        raise InputError("damaged WebP: file is shorter than its RIFF header says")
    return chunks


def _webp_file(chunks: list[_RiffChunk]) -> bytes:
    body = b"WEBP" + b"".join(chunk.serialise() for chunk in chunks)
    if len(body) > 0xFFFFFFFF - 8:
        raise InputError("WebP file with payload would exceed the 4 GiB RIFF limit")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _bitstream_canvas(chunk: _RiffChunk) -> tuple[int, int, bool]:
    """(width, height, has_alpha) from a VP8 (lossy) or VP8L (lossless) bitstream chunk."""
    data = chunk.data
    if chunk.fourcc == b"VP8 ":
        # 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height (top 2 bits: scale).
        if len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
            raise InputError("damaged WebP: VP8 bitstream lacks its key-frame start code")
        width, height = struct.unpack_from("<HH", data, 6)
        return width & 0x3FFF, height & 0x3FFF, False
    if chunk.fourcc == b"VP8L":
        # Signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha_is_used (LSB first).
        if len(data) < 5 or data[0] != 0x2F:
            raise InputError("damaged WebP: VP8L bitstream lacks its signature")
        (bits,) = struct.unpack_from("<I", data, 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise InputError(f"damaged WebP: unexpected first chunk {chunk.fourcc!r}")


def _vp8x_chunk(chunks: list[_RiffChunk]) -> _RiffChunk:
    """A VP8X header describing ``chunks`` (a simple-format file's chunks), flags matching them."""
    bitstream = next((c for c in chunks if c.fourcc in (b"VP8 ", b"VP8L")), None)
    if bitstream is None:
        raise InputError("damaged WebP: no VP8/VP8L image data")
    width, height, has_alpha = _bitstream_canvas(bitstream)
    present = {c.fourcc for c in chunks}
    flags = 0
    flags |= _VP8X_ICC if b"ICCP" in present else 0
    flags |= _VP8X_ALPHA if has_alpha or b"ALPH" in present else 0
    flags |= _VP8X_EXIF if b"EXIF" in present else 0
    flags |= _VP8X_XMP if b"XMP " in present else 0
    data = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _RiffChunk(b"VP8X", data)


def _webp_strip(image_bytes: bytes) -> bytes:
    chunks = _webp_chunks(image_bytes)
    if not any(c.fourcc == WEBP_CHUNK_FOURCC for c in chunks):
        return image_bytes
    return _webp_file([c for c in chunks if c.fourcc != WEBP_CHUNK_FOURCC])


def _webp_embed(image_bytes: bytes, payload: bytes) -> bytes:
    chunks = [c for c in _webp_chunks(image_bytes) if c.fourcc != WEBP_CHUNK_FOURCC]
    if not chunks:
        raise InputError("damaged WebP: no chunks")
    if chunks[0].fourcc != b"VP8X":
        # Simple format allows only the bitstream chunk; extended format allows unknown chunks.
        chunks = [_vp8x_chunk(chunks), *chunks]
    return _webp_file([*chunks, _RiffChunk(WEBP_CHUNK_FOURCC, payload)])


def _webp_extract(image_bytes: bytes) -> bytes | None:
    ours = [c for c in _webp_chunks(image_bytes) if c.fourcc == WEBP_CHUNK_FOURCC]
    if not ours:
        return None
    if len(ours) > 1:
        raise PayloadCorruptError(f"WebP holds {len(ours)} faceveil payload chunks; expected one")
    return ours[0].data


# --------------------------------------------------------------------------------------------
# Original metadata segments: everything a decoder skips that io/images.py does not model as EXIF, XMP
# or ICC. Anonymized outputs never carry them (a JPEG comment or IPTC caption can name the person,
# Photoshop's APP13 holds a thumbnail of the original face); they travel encrypted in the payload and
# recovery writes them back verbatim into an output of the same format.

METADATA_SEGMENTS_MAX_BYTES = 16 * 1024 * 1024  # the container's per-secret limit

_JPEG_COM = 0xFE
_JPEG_APP1, _JPEG_APP2, _JPEG_APP14 = 0xE1, 0xE2, 0xEE
# APP1 Exif and standard XMP are ImageMetadata.exif / .xmp (rewritten with orientation 1 and without
# thumbnails); APP0 (JFIF/JFXX), APP2 (ICC, MPF frame offsets) and APP14 (Adobe colour transform) describe
# the encoding, which the encoder writes for the new file.
_JPEG_MODELLED_APP1 = (b"Exif\x00", b"http://ns.adobe.com/xap/1.0/\x00")

# PNG ancillary chunks that describe the picture rather than its encoding, valid with any colour type and
# bit depth (unlike sBIT, bKGD, tRNS, hIST), so they stay valid on a re-encoded file. eXIf, iCCP and the
# XMP iTXt are modelled separately.
_PNG_METADATA_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs", b"gAMA", b"cHRM", b"sRGB"}
_PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"


def _is_metadata_segment(segment: _JpegSegment) -> bool:
    marker = segment.marker
    if marker == _JPEG_COM:
        return True
    if marker == _JPEG_APP1:
        return not segment.body.startswith(_JPEG_MODELLED_APP1)
    if marker == JPEG_APP15:
        return not segment.is_ours
    return 0xE3 <= marker <= 0xED  # APP3..APP13 (APP12 "Ducky"/picture info, APP13 IPTC/Photoshop)


def jpeg_metadata_segments(image_bytes: bytes) -> bytes | None:
    """The comment (COM) and APPn segments of a JPEG's header that :func:`_is_metadata_segment` keeps,
    concatenated verbatim (marker, length, body), in file order; None if there are none."""
    segments, _ = _jpeg_header_segments(image_bytes)
    return _capped([image_bytes[s.start : s.end] for s in segments if _is_metadata_segment(s)])


def png_metadata_chunks(image_bytes: bytes) -> bytes | None:
    """The text (tEXt/zTXt/iTXt except XMP), tIME, pHYs, gAMA, cHRM and sRGB chunks of a PNG,
    concatenated verbatim (length, type, data, CRC), in file order; None if there are none."""
    chunks = [
        image_bytes[c.start : c.end]
        for c in _png_chunks(image_bytes)
        if c.type in _PNG_METADATA_CHUNKS
        and not (c.type == b"iTXt" and image_bytes[c.data_start : c.data_start + len(_PNG_XMP_KEYWORD)] == _PNG_XMP_KEYWORD)
    ]
    return _capped(chunks)


def _capped(pieces: list[bytes]) -> bytes | None:
    """Join pieces in order, skipping any that would take the total over the container's secret size
    limit (real files stay far below it; a pathological file keeps what fits)."""
    kept, total = [], 0
    for piece in pieces:
        if total + len(piece) <= METADATA_SEGMENTS_MAX_BYTES:
            kept.append(piece)
            total += len(piece)
    return b"".join(kept) or None


def insert_jpeg_metadata(image_bytes: bytes, segments: bytes) -> bytes:
    """``image_bytes`` (a JPEG) with ``segments`` (from :func:`jpeg_metadata_segments`) inserted after
    its leading APP0-APP2 headers. InputError if ``segments`` is not a run of such segments."""
    # Validate by parsing the run as a JPEG header (it ends where an SOS would start).
    try:
        parsed, end = _jpeg_header_segments(b"\xff\xd8" + segments + b"\xff\xda")
    except (InputError, PayloadCorruptError):
        parsed, end = [], -1
    if end != len(segments) + 2 or not all(_is_metadata_segment(s) for s in parsed):
        raise InputError("stored JPEG metadata segments are malformed")
    header, _ = _jpeg_header_segments(image_bytes)
    insert_at = 2
    for segment in header:
        if segment.marker not in (0xE0, _JPEG_APP1, _JPEG_APP2):
            break
        insert_at = segment.end
    return image_bytes[:insert_at] + segments + image_bytes[insert_at:]


def insert_png_metadata(image_bytes: bytes, chunks: bytes) -> bytes:
    """``image_bytes`` (a PNG) with ``chunks`` (from :func:`png_metadata_chunks`) inserted right after
    IHDR, where every one of them is allowed. InputError if ``chunks`` is not a run of such chunks."""
    pos = 0
    while pos < len(chunks):
        if pos + 12 > len(chunks):
            raise InputError("stored PNG metadata chunks are malformed")
        length, chunk_type = struct.unpack_from(">I4s", chunks, pos)
        end = pos + 12 + length
        crc_ok = end <= len(chunks) and zlib.crc32(chunks[pos + 4 : end - 4]) == struct.unpack_from(">I", chunks, end - 4)[0]
        if chunk_type not in _PNG_METADATA_CHUNKS or not crc_ok:
            raise InputError("stored PNG metadata chunks are malformed")
        pos = end
    ihdr = next(_png_chunks(image_bytes))
    if ihdr.type != b"IHDR":
        raise InputError("damaged PNG: first chunk is not IHDR")
    return image_bytes[: ihdr.end] + chunks + image_bytes[ihdr.end :]


def jpeg_metadata_as_png_chunks(segments: bytes) -> bytes | None:
    """The part of a JPEG's metadata segments PNG has a place for, as PNG chunks, for recovering a
    JPEG original into PNG (the bit-exact choice): the comment (COM) as a ``tEXt`` "Comment" and the
    Photoshop/IPTC APP13 resources as a ``zTXt`` "Raw profile type 8bim" (ImageMagick's and
    exiftool's convention). Other APPn segments have no PNG equivalent; None if nothing maps."""
    try:
        parsed, _ = _jpeg_header_segments(b"\xff\xd8" + segments + b"\xff\xda")
    except (InputError, PayloadCorruptError):
        return None
    chunks = []
    for segment in parsed:
        if segment.marker == _JPEG_COM and segment.body and b"\x00" not in segment.body:
            chunks.append(_png_chunk(b"tEXt", b"Comment\x00" + segment.body))  # tEXt is Latin-1: any byte but NUL
        elif segment.marker == 0xED and segment.body.startswith(_PHOTOSHOP_APP13):
            chunks.append(_png_chunk(b"zTXt", b"Raw profile type 8bim\x00\x00" + zlib.compress(
                _raw_profile_text("8bim", segment.body[len(_PHOTOSHOP_APP13) :]))))
    return b"".join(chunks) or None


_PHOTOSHOP_APP13 = b"Photoshop 3.0\x00"


def _png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))


def _raw_profile_text(name: str, data: bytes) -> bytes:
    """ImageMagick's "Raw profile type" text: newline, name, newline, length (8 wide), newline, then the
    bytes in hex, 72 digits per line."""
    digits = data.hex()
    lines = [digits[i : i + 72] for i in range(0, len(digits), 72)]
    return f"\n{name}\n{len(data):8d}\n".encode("ascii") + "\n".join(lines).encode("ascii") + b"\n"
