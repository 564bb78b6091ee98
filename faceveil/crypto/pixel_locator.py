"""The pixel locator: what pixel-only recovery needs besides the passphrase, carried IN the pixels.

Pixel-only mode (``--payload none`` with a passphrase, for methods that hide the face in the
pixels) writes no container. A small authenticated record, the *locator*, goes into the least
significant bits of the red, green and blue channels of a band of pixels at one of four fixed places
(bottom rows, top rows, left columns, right columns; the writer picks the first that misses every
face region, the reader tries them in that order). Format (docs/format.md, "Pixel locator"):

    header (58 bytes, clear, authenticated as AEAD associated data)
      magic "FVPX" | version u8 = 1 | place u8 | time_cost u8 | memory_kib u32 | parallelism u8
      | argon2 salt (16) | image salt (16) | key check (8) | body length u16 | CRC-32 of the above u32
    body  ChaCha20-Poly1305(locator key, zero nonce) of: pixel hash (32) | zlib(canonical JSON)

    master      = Argon2id(passphrase, argon2 salt, params)                 (crypto.keys)
    per image   = HKDF-SHA256(master, salt = image salt, info = label)      (labels below)

Both salts are random per image, so every image gets its own locator key (the zero nonce is safe)
and its own content key (per-face PRO-Face S key maps derive from it exactly as from a container's
content key). The pixel hash covers the whole image with the locator's carrier bits cleared, so any
change to the pixels (a JPEG or resized copy, an edit) is detected before a face is written.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from faceveil.crypto.envelope import ContentKey
from faceveil.crypto.keys import SALT_BYTES, Argon2Params, PassphraseKey, argon2_params_problem
from faceveil.crypto.primitives import AuthenticationFailed, canonical_json, hkdf_sha256, open_once, seal_once
from faceveil.errors import InputError, KeyMaterialError, TamperedPixelsError, WrongKeyError

MAGIC = b"FVPX"
VERSION = 1
PLACES = ("bottom", "top", "left", "right")  # the reader tries them in this order
CHECK_BYTES = 8
_HEADER = struct.Struct(">4sBBBIB16s16s8sH")  # everything before the CRC
HEADER_BYTES = _HEADER.size + 4
BITS_PER_PIXEL = 3  # LSB of R, G and B
MAX_BODY_BYTES = 32 * 1024
_LABEL_LOCATOR = b"faceveil/pixel-locator/v1\x00aead"
_LABEL_CHECK = b"faceveil/pixel-locator/v1\x00check"
_LABEL_CONTENT = b"faceveil/pixel-locator/v1\x00content-key"
_HASH_TAG = b"faceveil/pixel-locator/v1\x00pixels"

ALTERED = ("pixels were altered; pixel-only recovery needs a lossless copy (PNG, WebP lossless, TIFF or BMP) "
           "of the protected image as written")


@dataclass(frozen=True)
class LocatorKeys:
    """The per-image secrets of one locator: its AEAD key, its key check and the image's content key."""

    aead: bytes
    check: bytes
    content_key: ContentKey

    @classmethod
    def derive(cls, master: bytes, image_salt: bytes) -> LocatorKeys:
        def kdf(label: bytes, n: int) -> bytes:
            return hkdf_sha256(master, salt=image_salt, info=label, length=n)

        return cls(kdf(_LABEL_LOCATOR, 32), kdf(_LABEL_CHECK, CHECK_BYTES), ContentKey(kdf(_LABEL_CONTENT, 32)))


@dataclass(frozen=True)
class Locator:
    """What a pixel-only image carries (opened): its record and the image's content key."""

    record: dict  # {"method", "params", "faces": [{"rect", "method"}...], "shape"}
    content_key: ContentKey
    place: str


def new_image_keys(passphrase: PassphraseKey) -> tuple[PassphraseKey, bytes, LocatorKeys]:
    """For sealing one image: (the passphrase key with this image's own random Argon2id salt, a random
    image salt, the keys they give). Argon2id runs here, once per image."""
    import secrets

    own = passphrase.with_fresh_salt()
    image_salt = secrets.token_bytes(SALT_BYTES)
    return own, image_salt, LocatorKeys.derive(own.master_secret(own.salt, own.params), image_salt)


def carrier_positions(shape: tuple[int, ...], place: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the first ``count`` carrier pixels of ``place`` in an (H, W, ...) image.

    bottom: rows from the last upward, each left to right; top: rows from the first downward;
    left: columns from the first rightward, each top to bottom; right: columns from the last leftward."""
    h, w = shape[:2]
    k = np.arange(count)
    if place == "bottom":
        return h - 1 - k // w, k % w
    if place == "top":
        return k // w, k % w
    if place == "left":
        return k % h, k // h
    if place == "right":
        return k % h, w - 1 - k // h
    raise ValueError(f"unknown locator place {place!r}")


def pixels_needed(body_bytes: int) -> int:
    return -(-(HEADER_BYTES + body_bytes) * 8 // BITS_PER_PIXEL)


def band_rect(shape: tuple[int, ...], place: str, count: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the rows/columns the first ``count`` carrier pixels touch."""
    h, w = shape[:2]
    if place in ("bottom", "top"):
        rows = -(-count // w)
        return (0, h - rows if place == "bottom" else 0, w, rows)
    cols = -(-count // h)
    return (w - cols if place == "right" else 0, 0, cols, h)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def choose_place(shape: tuple[int, ...], count: int, avoid: list[tuple[int, int, int, int]]) -> str:
    """The first place whose band misses every rectangle in ``avoid``; "bottom" when none does (the
    few +-1 changes inside a face region then do not measurably change its recovery, tested)."""
    for place in PLACES:
        if not any(_overlaps(band_rect(shape, place, count), r) for r in avoid):
            return place
    return PLACES[0]


def pixel_hash(pixels: np.ndarray, place: str, count: int) -> bytes:
    """SHA-256 of the image with the carrier bits (LSB of R, G, B of the first ``count`` pixels) cleared."""
    cleared = np.array(pixels, dtype=np.uint8, copy=True)
    ys, xs = carrier_positions(cleared.shape, place, count)
    cleared[ys, xs, :BITS_PER_PIXEL] &= 0xFE
    h = hashlib.sha256(_HASH_TAG)
    h.update(struct.pack(">III", *cleared.shape))
    h.update(np.ascontiguousarray(cleared).tobytes())
    return h.digest()


def _write_bits(pixels: np.ndarray, place: str, data: bytes) -> None:
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    count = -(-bits.size // BITS_PER_PIXEL)
    bits = np.concatenate([bits, np.zeros(count * BITS_PER_PIXEL - bits.size, np.uint8)]).reshape(count, BITS_PER_PIXEL)
    ys, xs = carrier_positions(pixels.shape, place, count)
    pixels[ys, xs, :BITS_PER_PIXEL] = (pixels[ys, xs, :BITS_PER_PIXEL] & 0xFE) | bits


def _read_bytes(pixels: np.ndarray, place: str, start: int, n: int) -> bytes:
    """Bytes [start, start + n) of the carrier stream at ``place``."""
    end_bit = (start + n) * 8
    count = -(-end_bit // BITS_PER_PIXEL)
    ys, xs = carrier_positions(pixels.shape, place, count)
    bits = (pixels[ys, xs, :BITS_PER_PIXEL] & 1).reshape(-1)[start * 8 : end_bit]
    return np.packbits(bits).tobytes()


def _check_layout(pixels: np.ndarray) -> None:
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise InputError("pixel-only mode needs an 8-bit RGB or RGBA image (gray images lose the hidden face)")


def embed(pixels: np.ndarray, record: dict, passphrase: PassphraseKey, image_salt: bytes, keys: LocatorKeys,
          avoid: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Write the locator for ``record`` into a copy of ``pixels`` (H, W, 3|4) uint8; returns the copy.

    ``passphrase``/``image_salt``/``keys``: from :func:`new_image_keys` (the faces were keyed with
    ``keys.content_key``);
    ``avoid``: rectangles (x, y, w, h) the locator should not touch (the face regions)."""
    _check_layout(pixels)
    body_plain_len = 32 + len(zlib.compress(canonical_json(record), 9))
    body_len = body_plain_len + 16  # AEAD tag
    count = pixels_needed(body_len)
    if count > pixels.shape[0] * pixels.shape[1] or body_len > MAX_BODY_BYTES:
        raise InputError(f"image too small for the pixel-only locator ({count} pixels needed)")
    place = choose_place(pixels.shape, count, avoid)
    params = passphrase.params
    head = _HEADER.pack(MAGIC, VERSION, PLACES.index(place), params.time_cost, params.memory_kib, params.parallelism,
                        passphrase.salt, image_salt, keys.check, body_len)
    header = head + struct.pack(">I", zlib.crc32(head))
    digest = pixel_hash(pixels, place, count)
    body = seal_once(keys.aead, digest + zlib.compress(canonical_json(record), 9), header)
    out = np.array(pixels, copy=True)
    _write_bits(out, place, header + body)
    return out


def find_header(pixels: np.ndarray) -> tuple[str, dict] | None:
    """(place, header fields) of the first place whose header parses (magic, version, CRC), else None."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        return None
    capacity = pixels.shape[0] * pixels.shape[1] * BITS_PER_PIXEL // 8
    if capacity < HEADER_BYTES:
        return None
    for place in PLACES:
        raw = _read_bytes(pixels, place, 0, HEADER_BYTES)
        head, (crc,) = raw[:-4], struct.unpack(">I", raw[-4:])
        if head[:4] != MAGIC or zlib.crc32(head) != crc:
            continue
        magic, version, place_no, t, m, p, salt, image_salt, check, body_len = _HEADER.unpack(head)
        if version != VERSION or place_no >= len(PLACES) or PLACES[place_no] != place:
            continue
        return place, {"header": raw, "time_cost": t, "memory_kib": m, "parallelism": p, "salt": salt,
                       "image_salt": image_salt, "check": check, "body_len": body_len}
    return None


def has_locator(pixels: np.ndarray) -> bool:
    return find_header(pixels) is not None


def open_locator(pixels: np.ndarray, identities) -> Locator:
    """Find, check and open the locator of ``pixels`` with a passphrase among ``identities``.

    TamperedPixelsError (exit 8) when there is none or the pixels changed; WrongKeyError (exit 6)
    for a wrong passphrase; LimitExceededError (exit 13) for a hostile Argon2 cost."""
    found = find_header(pixels)
    if found is None:
        raise TamperedPixelsError(f"no pixel-only locator found: {ALTERED} (or the image was not protected "
                                  "with --payload none)")
    place, h = found
    if argon2_params_problem(h["time_cost"], h["memory_kib"], h["parallelism"]) or not 16 < h["body_len"] <= MAX_BODY_BYTES:
        raise TamperedPixelsError(f"the pixel-only locator is malformed: {ALTERED}")
    count = pixels_needed(h["body_len"])
    if count > pixels.shape[0] * pixels.shape[1]:
        raise TamperedPixelsError(f"the pixel-only locator is cut off: {ALTERED}")
    passphrases = [i for i in identities if isinstance(i, PassphraseKey)]
    if not passphrases:
        raise KeyMaterialError("pixel-only recovery needs the passphrase (a private key cannot open it)")
    params = Argon2Params(h["time_cost"], h["memory_kib"], h["parallelism"])
    for key in passphrases:
        keys = LocatorKeys.derive(key.master_secret(h["salt"], params), h["image_salt"])
        if hmac.compare_digest(keys.check, h["check"]):
            break
    else:
        raise WrongKeyError("wrong passphrase for this pixel-only image (the locator's key check does not match)")
    body = _read_bytes(pixels, place, HEADER_BYTES, h["body_len"])
    try:
        plain = open_once(keys.aead, body, h["header"])
    except AuthenticationFailed:
        raise TamperedPixelsError(f"the pixel-only locator fails its authentication: {ALTERED}") from None
    digest, packed = plain[:32], plain[32:]
    if not hmac.compare_digest(digest, pixel_hash(pixels, place, count)):
        raise TamperedPixelsError(f"the protected pixels changed after protection: {ALTERED}")
    import json

    record = json.loads(zlib.decompress(packed))
    if list(pixels.shape) != list(record.get("shape", [])):
        raise TamperedPixelsError(f"image shape {pixels.shape} differs from the locator's: {ALTERED}")
    return Locator(record=record, content_key=keys.content_key, place=place)
