"""Small, fixed cryptographic building blocks shared by keys, envelope and container.

Algorithms are fixed by the container format version (no algorithm negotiation in the file, so an
attacker cannot downgrade them): HKDF-SHA256 for key derivation, ChaCha20-Poly1305 for every AEAD.
Every AEAD key is used for exactly one message, so the nonce is always zero (see ``seal_once``).
"""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
TAG_BYTES = 16
_ZERO_NONCE = bytes(12)

# Internal HKDF labels contain a NUL byte: ContentKey.derive() prefixes caller labels with
# b"faceveil/v1/", so no caller-chosen label can ever collide with these.
LABEL_BODY = b"faceveil/v1\x00body"
LABEL_PASSPHRASE_CHECK = b"faceveil/v1\x00passphrase-check"
LABEL_PASSPHRASE_WRAP = b"faceveil/v1\x00passphrase-wrap"
LABEL_X25519_WRAP = b"faceveil/v1\x00x25519-wrap"
LABEL_KEYFILE_CHECK = b"faceveil/v1\x00keyfile-check"
LABEL_KEYFILE_WRAP = b"faceveil/v1\x00keyfile-wrap"
LABEL_KEYFILE_AAD = b"faceveil/v1\x00keyfile\x00"


class AuthenticationFailed(Exception):
    """Internal signal: an AEAD tag did not verify. Callers translate it into a typed FaceveilError."""


def hkdf_sha256(secret: bytes, *, info: bytes, length: int = KEY_BYTES, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def seal_once(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 with a zero nonce. Safe ONLY because every caller derives a fresh key per
    message (per-stanza wrap salt or ephemeral X25519 key, per-container body salt)."""
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, plaintext, aad)


def open_once(key: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, ciphertext, aad)
    except InvalidTag:
        raise AuthenticationFailed from None


def canonical_json(obj: object) -> bytes:
    """The one byte encoding of a JSON value: sorted keys, no whitespace, ASCII only, no NaN.

    Raises TypeError/ValueError for values that are not plain JSON (a programming error)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_exact(text: object, length: int | None = None) -> bytes:
    """Strict base64 decoding; raises ValueError unless ``text`` is canonical base64 (of ``length`` bytes)."""
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("invalid base64") from None
    if b64encode(data) != text:  # reject non-canonical padding bits, so one file has one encoding
        raise ValueError("non-canonical base64")
    if length is not None and len(data) != length:
        raise ValueError(f"expected {length} bytes, got {len(data)}")
    return data
