"""The versioned recovery container: exact original pixels of every modified region, encrypted.

Byte layout (all integers big-endian; full specification in docs/format.md)::

    magic        8  b"\\x89FVR\\r\\n\\x1a\\n"
    version      2  u16: 1 (regions), or 2 (the original file; see below)
    header_len   4  u32
    body_len     8  u64
    header       header_len  canonical JSON (sorted keys, no whitespace, ASCII), readable without a key
    body         body_len    ChaCha20-Poly1305(body key, zero nonce, plaintext, aad = every byte before body)
    checksum     32 SHA-256 of every byte before it (unkeyed: catches accidental damage before key work)

body key = HKDF-SHA256(content key, salt = header.body_salt, info = b"faceveil/v1\\x00body"), so it is
fresh per container even if a caller reuses a content key. The plaintext holds the regions (each PNG or
row-delta+zlib compressed, see region_codec) and the method's private secrets.

Version 2 (source coding, ``seal(source_file=...)``): no regions; the plaintext's secret
``source.file`` is the whole original file, when that is smaller than the face regions coded as
lossless pixels (a JPEG usually is). A version-1 reader refuses it rather than restoring nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets as _secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from faceveil.crypto.envelope import ContentKey, Identity, Recipient, unwrap_content_key, wrap_content_key
from faceveil.crypto.keys import PassphraseKey, X25519Identity, X25519Recipient
from faceveil.crypto.primitives import (
    LABEL_BODY,
    TAG_BYTES,
    AuthenticationFailed,
    b64decode_exact,
    b64encode,
    canonical_json,
    hkdf_sha256,
    open_once,
    seal_once,
)
from faceveil.crypto.region_codec import RegionDecodeError, decode_region, encode_region
from faceveil.errors import PayloadCorruptError, TamperedPayloadError, TamperedPixelsError
from faceveil.faces.types import Face

MAGIC = b"\x89FVR\r\n\x1a\n"  # PNG-style: non-ASCII first byte and CR/LF/^Z catch text-mode mangling
VERSION = 1
SOURCE_VERSION = 2  # the body holds the original file (secret SOURCE_FILE) instead of regions
SUPPORTED_VERSIONS = (1, 2)
SOURCE_FILE = "source.file"
_PREAMBLE = struct.Struct(">8sHIQ")  # magic, version, header_len, body_len
PREAMBLE_BYTES = _PREAMBLE.size  # 22
CHECKSUM_BYTES = 32
BODY_SALT_BYTES = 32

# Parsing limits: hostile input must end in a clean PayloadCorruptError, not in memory exhaustion.
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_IMAGE_SIDE = 1 << 16
MAX_REGIONS = 1 << 20
MAX_DECODED_BYTES = 2 * 1024**3  # all regions together, after decompression
MAX_SECRETS = 1024
MAX_SECRET_BYTES = 16 * 1024 * 1024
MAX_SOURCE_BYTES = 1024**3  # a version-2 original file
MAX_METHOD_NAME = 64

_HEADER_FIELDS = {
    "body_salt", "created", "extra", "faces", "image_shape", "method",
    "method_params", "pixel_sha256", "recipients", "region_count",
}  # fmt: skip
_REGION_RECORD = struct.Struct(">IIIIBI")  # x, y, width, height, codec, data_len
_SECRET_NAME_LEN = struct.Struct(">H")
_U32 = struct.Struct(">I")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Region:
    """Original pixels of one modified rectangle: ``pixels`` (h, w, C) uint8 with top-left at (x, y)."""

    x: int
    y: int
    pixels: np.ndarray

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass
class ContainerInfo:
    """Everything readable WITHOUT a key (what `faceveil inspect` shows)."""

    version: int
    method: str
    method_params: dict
    image_shape: tuple[int, int, int]  # (H, W, C) of the anonymized image
    faces: list[dict]  # Face.to_dict() of every face
    pixel_sha256: bytes  # pixel_digest() of the anonymized image
    recipients: list[dict]  # [{"type": "passphrase", "kdf": "argon2id", ...} | {"type": "x25519", "key_id": ...}]
    region_count: int
    created: str  # ISO 8601 UTC, seconds
    extra: dict = field(default_factory=dict)  # public method data, e.g. video info
    size: int = 0  # total container bytes

    def to_dict(self) -> dict:
        """JSON-able view (pixel hash as hex)."""
        return {
            "version": self.version,
            "method": self.method,
            "method_params": self.method_params,
            "image_shape": list(self.image_shape),
            "faces": self.faces,
            "pixel_sha256": self.pixel_sha256.hex(),
            "recipients": self.recipients,
            "region_count": self.region_count,
            "created": self.created,
            "extra": self.extra,
            "size": self.size,
        }


@dataclass
class OpenedContainer:
    info: ContainerInfo
    regions: list[Region]
    content_key: ContentKey
    secrets: dict[str, bytes]  # private method data (e.g. G2Face identity embedding)

    @property
    def source_file(self) -> bytes | None:
        """The original file (version 2, source coding), else None."""
        return self.secrets.get(SOURCE_FILE) if self.info.version == SOURCE_VERSION else None


def pixel_digest(pixels: np.ndarray) -> bytes:
    """SHA-256 over a canonical encoding: domain tag, dtype, shape, then the C-contiguous bytes.

    pixels: (H, W, C) array (a 2-D (H, W) array is treated as (H, W, 1)), usually uint8."""
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"pixel_digest expects (H, W, C) pixels, got shape {array.shape}")
    digest = hashlib.sha256(b"faceveil/pixels/v1\x00")
    digest.update(array.dtype.str.encode("ascii") + b"\x00")
    digest.update(struct.pack(">3Q", *array.shape))
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def verify_pixels(info: ContainerInfo, pixels: np.ndarray) -> None:
    """TamperedPixelsError unless ``pixels`` are exactly the anonymized image the container was made for."""
    shape = tuple(np.asarray(pixels).shape) + ((1,) if np.asarray(pixels).ndim == 2 else ())
    if shape != tuple(info.image_shape):
        raise TamperedPixelsError(
            f"the image is {_shape_text(shape)} but the recovery payload belongs to a "
            f"{_shape_text(info.image_shape)} image (resized, cropped or converted?)"
        )
    if not hmac.compare_digest(pixel_digest(pixels), info.pixel_sha256):
        raise TamperedPixelsError(
            "the anonymized pixels were modified after anonymization (re-encoded, edited or a different image)"
        )


# --- sealing ------------------------------------------------------------------------------------


def seal(
    *,
    regions: Sequence[Region],
    method: str,
    method_params: Mapping,
    image_shape: tuple[int, int, int],
    faces: Sequence[Face | dict],
    pixel_sha256: bytes,
    recipients: Sequence[Recipient] | Recipient,
    content_key: ContentKey | None = None,
    secrets: Mapping[str, bytes] | None = None,
    extra: Mapping | None = None,
    source_file: bytes | None = None,
) -> bytes:
    """Encrypt ``regions`` (and ``secrets``) for every recipient; returns the container bytes.
    ``source_file``: the whole original file instead of regions (format version 2; ``regions`` empty).

    Raises KeyMaterialError for missing/unusable recipients; ValueError/TypeError for arguments that
    break the format's rules (a programming error, e.g. a region outside the image)."""
    image_shape = _checked_image_shape(image_shape)
    _check_regions(regions, image_shape)
    version = VERSION
    if source_file is not None:
        if regions or not isinstance(source_file, bytes) or not 0 < len(source_file) <= MAX_SOURCE_BYTES:
            raise ValueError(f"source_file: 1..{MAX_SOURCE_BYTES} bytes, and no regions beside it")
        secrets = dict(secrets or {}) | {SOURCE_FILE: source_file}
        version = SOURCE_VERSION
    if not isinstance(method, str) or not 1 <= len(method) <= MAX_METHOD_NAME:
        raise ValueError(f"method must be a name of 1..{MAX_METHOD_NAME} characters")
    if not isinstance(pixel_sha256, bytes) or len(pixel_sha256) != 32:
        raise ValueError("pixel_sha256 must be the 32-byte pixel_digest() of the anonymized image")
    if isinstance(recipients, (PassphraseKey, X25519Recipient, X25519Identity)):
        recipients = [recipients]
    content_key = content_key or ContentKey.generate()
    face_dicts = [f.to_dict() if isinstance(f, Face) else dict(f) for f in faces]
    for face in face_dicts:
        _validate_face(face)  # what read_info would refuse must not be written

    core = {
        "body_salt": b64encode(_secrets.token_bytes(BODY_SALT_BYTES)),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "extra": dict(extra or {}),
        "faces": face_dicts,
        "image_shape": list(image_shape),
        "method": method,
        "method_params": dict(method_params),
        "pixel_sha256": pixel_sha256.hex(),
        "region_count": len(regions),
    }
    stanzas = wrap_content_key(content_key, recipients, _stanza_aad(version, core))
    header = canonical_json(core | {"recipients": stanzas})
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"container header is {len(header)} bytes; the limit is {MAX_HEADER_BYTES}")

    plaintext = _encode_plaintext(regions, dict(secrets or {}))
    prefix = _PREAMBLE.pack(MAGIC, version, len(header), len(plaintext) + TAG_BYTES) + header
    body = seal_once(_body_key(content_key, core["body_salt"]), plaintext, prefix)
    unsummed = prefix + body
    return unsummed + hashlib.sha256(unsummed).digest()


def _stanza_aad(version: int, core_header: dict) -> bytes:
    """What every recipient stanza's wrap authenticates: the whole clear header except the stanzas."""
    return b"faceveil/v1\x00stanza\x00" + MAGIC + struct.pack(">H", version) + canonical_json(core_header)


def _body_key(content_key: ContentKey, body_salt_b64: str) -> bytes:
    return hkdf_sha256(content_key.to_bytes(), salt=b64decode_exact(body_salt_b64, BODY_SALT_BYTES), info=LABEL_BODY)


def _checked_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(v) for v in image_shape)
    if len(shape) != 3 or not (1 <= shape[0] <= MAX_IMAGE_SIDE and 1 <= shape[1] <= MAX_IMAGE_SIDE):
        raise ValueError(f"image_shape must be (H, W, C) with sides in [1, {MAX_IMAGE_SIDE}], got {image_shape}")
    if shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"image channels must be 1..4, got {shape[2]}")
    return shape  # type: ignore[return-value]


def _check_regions(regions: Sequence[Region], image_shape: tuple[int, int, int]) -> None:
    height, width, channels = image_shape
    if len(regions) > MAX_REGIONS:
        raise ValueError(f"at most {MAX_REGIONS} regions per container")
    for i, region in enumerate(regions):
        pixels = region.pixels
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3:
            raise ValueError(f"region {i}: pixels must be an (h, w, C) uint8 array")
        if pixels.shape[2] != channels:
            raise ValueError(f"region {i}: {pixels.shape[2]} channels but the image has {channels}")
        if not _region_fits(region.x, region.y, region.width, region.height, width, height):
            raise ValueError(f"region {i} ({region.x}, {region.y}, {region.width}x{region.height}) is empty or "
                             f"outside the {width}x{height} image")


def _region_fits(x: int, y: int, w: int, h: int, image_w: int, image_h: int) -> bool:
    return w >= 1 and h >= 1 and 0 <= x and 0 <= y and x + w <= image_w and y + h <= image_h


def _encode_plaintext(regions: Sequence[Region], secrets: dict[str, bytes]) -> bytes:
    """u32 n, n x (x, y, w, h, codec, len, data), u32 m, m x (u16 name_len, name, u32 len, value)."""
    if len(secrets) > MAX_SECRETS:
        raise ValueError(f"at most {MAX_SECRETS} secrets")
    parts = [_U32.pack(len(regions))]
    for region in regions:
        codec, data = encode_region(np.ascontiguousarray(region.pixels))
        parts += [_REGION_RECORD.pack(region.x, region.y, region.width, region.height, codec, len(data)), data]
    parts.append(_U32.pack(len(secrets)))
    for name, value in sorted(secrets.items()):
        name_bytes = name.encode("utf-8") if isinstance(name, str) else b""
        limit = MAX_SOURCE_BYTES if name == SOURCE_FILE else MAX_SECRET_BYTES
        if not 1 <= len(name_bytes) <= 255 or not isinstance(value, bytes) or len(value) > limit:
            raise ValueError(f"secret {name!r}: names are 1..255 UTF-8 bytes, values bytes <= {MAX_SECRET_BYTES}")
        parts += [_SECRET_NAME_LEN.pack(len(name_bytes)), name_bytes, _U32.pack(len(value)), value]
    return b"".join(parts)


# --- reading ------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    info: ContainerInfo
    stanzas: list
    stanza_aad: bytes
    body_salt: str
    body_aad: bytes  # every byte before the body
    body: bytes


def read_info(blob: bytes) -> ContainerInfo:
    """The clear header, without any key. PayloadCorruptError for truncated/malformed/damaged input."""
    return _parse(blob).info


def open_container(blob: bytes, identities: Sequence[Identity] | Identity) -> OpenedContainer:
    """Decrypt a container. PayloadCorruptError (damaged), WrongKeyError (no identity is a recipient),
    TamperedPayloadError (right key but the authenticated data was altered)."""
    parsed = _parse(blob)
    if isinstance(identities, (PassphraseKey, X25519Identity)):
        identities = [identities]
    content_key = unwrap_content_key(parsed.stanzas, identities, parsed.stanza_aad)
    try:
        plaintext = open_once(_body_key(content_key, parsed.body_salt), parsed.body, parsed.body_aad)
    except AuthenticationFailed:
        raise TamperedPayloadError(
            "the recovery payload was altered: its encrypted body fails authentication"
        ) from None
    regions, secrets = _decode_plaintext(plaintext, parsed.info)
    return OpenedContainer(info=parsed.info, regions=regions, content_key=content_key, secrets=secrets)


def open_container_with_key(blob: bytes, content_key: ContentKey) -> OpenedContainer:
    """Open a container with its known content key, skipping the recipient stanzas: the writer's own
    check that what it sealed opens (pipeline.video_verify). The body must authenticate under the key."""
    parsed = _parse(blob)
    try:
        plaintext = open_once(_body_key(content_key, parsed.body_salt), parsed.body, parsed.body_aad)
    except AuthenticationFailed:
        raise TamperedPayloadError("the recovery payload's body does not open with its content key") from None
    regions, secrets = _decode_plaintext(plaintext, parsed.info)
    return OpenedContainer(info=parsed.info, regions=regions, content_key=content_key, secrets=secrets)


def _corrupt(message: str) -> PayloadCorruptError:
    return PayloadCorruptError(f"recovery payload is {message}")


def _parse(blob: bytes) -> _Parsed:
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError("a container is bytes")
    blob = bytes(blob)
    if len(blob) < PREAMBLE_BYTES + CHECKSUM_BYTES:
        if not MAGIC.startswith(blob[: len(MAGIC)]):
            raise PayloadCorruptError("this is not a faceveil recovery payload (bad magic)")
        raise _corrupt(f"truncated (expected at least {PREAMBLE_BYTES + CHECKSUM_BYTES} bytes, got {len(blob)})")
    magic, version, header_len, body_len = _PREAMBLE.unpack_from(blob)
    if magic != MAGIC:
        raise PayloadCorruptError("this is not a faceveil recovery payload (bad magic)")
    if version not in SUPPORTED_VERSIONS:
        raise PayloadCorruptError(
            f"recovery payload has unsupported format version {version} "
            f"(this faceveil reads versions {', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    if header_len > MAX_HEADER_BYTES:
        raise _corrupt(f"malformed (header of {header_len} bytes exceeds the {MAX_HEADER_BYTES}-byte limit)")
    expected = PREAMBLE_BYTES + header_len + body_len + CHECKSUM_BYTES
    if len(blob) < expected:
        raise _corrupt(f"truncated (expected {expected} bytes, got {len(blob)})")
    if len(blob) > expected:
        raise _corrupt(f"followed by {len(blob) - expected} bytes of trailing garbage (expected {expected} bytes)")
    if not hmac.compare_digest(hashlib.sha256(blob[:-CHECKSUM_BYTES]).digest(), blob[-CHECKSUM_BYTES:]):
        raise _corrupt("damaged (checksum mismatch: bytes were changed after it was written)")
    if body_len < TAG_BYTES:
        raise _corrupt("malformed (body shorter than its authentication tag)")

    header_end = PREAMBLE_BYTES + header_len
    header = _parse_header(blob[PREAMBLE_BYTES:header_end])
    info = ContainerInfo(
        version=version,
        method=header["method"],
        method_params=header["method_params"],
        image_shape=tuple(header["image_shape"]),
        faces=header["faces"],
        pixel_sha256=bytes.fromhex(header["pixel_sha256"]),
        recipients=[_public_recipient(s) for s in header["recipients"]],
        region_count=header["region_count"],
        created=header["created"],
        extra=header["extra"],
        size=len(blob),
    )
    core = {k: v for k, v in header.items() if k != "recipients"}
    return _Parsed(
        info=info,
        stanzas=header["recipients"],
        stanza_aad=_stanza_aad(version, core),
        body_salt=header["body_salt"],
        body_aad=blob[:header_end],
        body=blob[header_end:-CHECKSUM_BYTES],
    )


def _parse_header(raw: bytes) -> dict:
    """Decode and validate the canonical-JSON header (the checksum already passed)."""
    try:
        header = json.loads(raw.decode("ascii"))
        if canonical_json(header) != raw:  # one file, one encoding: also rejects duplicate keys
            raise ValueError("header is not canonical JSON")
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise _corrupt(f"malformed (bad header: {exc})") from None
    try:
        _validate_header(header)
    except (ValueError, TypeError, KeyError) as exc:
        raise _corrupt(f"malformed (bad header: {exc})") from None
    return header


def _validate_header(header: object) -> None:
    if not isinstance(header, dict) or set(header) != _HEADER_FIELDS:
        raise ValueError(f"header fields must be exactly {sorted(_HEADER_FIELDS)}")
    shape = header["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int for v in shape)):
        raise ValueError("image_shape must be three integers")
    _checked_image_shape(shape)
    method = header["method"]
    if not isinstance(method, str) or not 1 <= len(method) <= MAX_METHOD_NAME:
        raise ValueError("bad method name")
    for name in ("method_params", "extra"):
        if not isinstance(header[name], dict):
            raise ValueError(f"{name} must be an object")
    if not isinstance(header["faces"], list):
        raise ValueError("faces must be a list")
    for face in header["faces"]:
        _validate_face(face)
    if not (isinstance(header["pixel_sha256"], str) and _HEX64.fullmatch(header["pixel_sha256"])):
        raise ValueError("pixel_sha256 must be 64 lowercase hex digits")
    count = header["region_count"]
    if type(count) is not int or not 0 <= count <= MAX_REGIONS:
        raise ValueError("bad region_count")
    if not isinstance(header["created"], str) or len(header["created"]) > 64:
        raise ValueError("bad created timestamp")
    b64decode_exact(header["body_salt"], BODY_SALT_BYTES)
    recipients = header["recipients"]
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= 64:
        raise ValueError("recipients must be a list of 1..64 stanzas")
    for stanza in recipients:
        if not isinstance(stanza, dict) or stanza.get("type") not in ("passphrase", "x25519"):
            raise ValueError("unknown recipient stanza")


def _is_number(value: object) -> bool:
    return type(value) in (int, float)  # json never yields NaN/inf here: canonical_json refuses them


def _validate_face(face: object) -> None:
    """The Face.to_dict() keys readers rely on must be well-formed; other keys (pipeline notes) are free."""
    if not isinstance(face, dict):
        raise ValueError("each face must be an object")
    box = face.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        raise ValueError("face box must be four numbers")
    if "score" in face and not _is_number(face["score"]):
        raise ValueError("face score must be a number")
    landmarks = face.get("landmarks")
    if landmarks is not None and not (
        isinstance(landmarks, list) and len(landmarks) == 5
        and all(isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in landmarks)
    ):  # fmt: skip
        raise ValueError("face landmarks must be five [x, y] pairs")
    if face.get("track_id") is not None and type(face["track_id"]) is not int:
        raise ValueError("face track_id must be an integer")


def _public_recipient(stanza: dict) -> dict:
    """The part of a stanza worth showing: who can open it, never salts or wrapped keys."""
    if stanza["type"] == "x25519":
        return {"type": "x25519", "key_id": stanza.get("key_id")}
    return {
        "type": "passphrase",
        "kdf": stanza.get("kdf"),
        "time_cost": stanza.get("time_cost"),
        "memory_kib": stanza.get("memory_kib"),
        "parallelism": stanza.get("parallelism"),
    }


class _Reader:
    """Bounds-checked cursor over the decrypted plaintext; ValueError on any overrun."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise ValueError("plaintext ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))


def _decode_plaintext(plaintext: bytes, info: ContainerInfo) -> tuple[list[Region], dict[str, bytes]]:
    """Inverse of _encode_plaintext, with every size checked against the header before decoding.

    Only reachable after the body authenticated, i.e. the sealer itself wrote these bytes; still,
    a hostile sealer gets a PayloadCorruptError, not a crash or a memory blow-up."""
    height, width, channels = info.image_shape
    reader = _Reader(plaintext)
    try:
        (count,) = reader.unpack(_U32)
        if count != info.region_count:
            raise ValueError(f"{count} regions but the header says {info.region_count}")
        regions, decoded_bytes = [], 0
        for _ in range(count):
            x, y, w, h, codec, data_len = reader.unpack(_REGION_RECORD)
            if not _region_fits(x, y, w, h, width, height):
                raise ValueError(f"region ({x}, {y}, {w}x{h}) lies outside the {width}x{height} image")
            decoded_bytes += w * h * channels
            if decoded_bytes > MAX_DECODED_BYTES:
                raise ValueError(f"regions would decode to more than {MAX_DECODED_BYTES} bytes")
            regions.append(Region(x, y, decode_region(codec, reader.take(data_len), (h, w, channels))))
        (secret_count,) = reader.unpack(_U32)
        if secret_count > MAX_SECRETS:
            raise ValueError("too many secrets")
        secrets = {}
        for _ in range(secret_count):
            (name_len,) = reader.unpack(_SECRET_NAME_LEN)
            name = reader.take(name_len).decode("utf-8")
            (value_len,) = reader.unpack(_U32)
            limit = MAX_SOURCE_BYTES if name == SOURCE_FILE and info.version == SOURCE_VERSION else MAX_SECRET_BYTES
            if value_len > limit or name in secrets:
                raise ValueError("bad secret entry")
            secrets[name] = reader.take(value_len)
        if reader.pos != len(plaintext):
            raise ValueError("unexpected bytes after the last secret")
        if info.version == SOURCE_VERSION and (regions or SOURCE_FILE not in secrets):
            raise ValueError("a version-2 payload holds the original file and no regions")
    except (ValueError, RegionDecodeError) as exc:  # UnicodeDecodeError is a ValueError
        raise _corrupt(f"malformed (decrypted contents are invalid: {exc})") from None
    return regions, secrets


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)
