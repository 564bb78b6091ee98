"""Secret key bit maps for PRO-Face S.

A key is an (H, W) map of +-1 values (bit 1 -> +1, bit 0 -> -1; bytes unpacked most significant
bit first, filled row by row), fed to the network at full image resolution.

Two ways to get one:
- **compat**: the official derivation (``generate_key(password, 1, H, W)`` of the released
  ``test_tcsvt.py``, pycryptodome's PBKDF2), so images can be exchanged with the official code:
  ``PBKDF2-HMAC-SHA512(password_bytes, salt=b"\x01", iterations=10, length=H*W/8)``. The official
  salt is the *integer* 1, which pycryptodome turns into the single byte 0x01 (not the character
  "1"); a str password is encoded as **latin-1**; an integer password n (the official test script
  passes 0) is the single byte n. Weak by design (fixed salt, 10 iterations); use only to interoperate.
- **secure** (default): a 32-byte seed from ``FaceContext.derive_secret("proface-s/key", 32)``
  (HKDF-SHA256 of the image's random content key, per face; the container wraps that key to the
  run's passphrase (Argon2id) or X25519 recipients), expanded to ``H*W/8`` bytes with SHAKE-256
  (HKDF-SHA256 itself stops at 8160 bytes, short of the 8192 a 256 px map needs). Every face of
  every image gets an independent key.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

from faceveil.errors import KeyMaterialError, WrongKeyError

SECURE_KEY_LABEL = "proface-s/key"
SECURE_SEED_BYTES = 32
_MAP_EXPANSION_PREFIX = b"faceveil/proface-s/key-map/v1\x00"
COMPAT_SALT = bytes([1])  # pycryptodome's tobytes(1): the official salt is the integer 1
LEGACY_COMPAT_SALT = b"1"  # faceveil before issue 10 (ASCII "1", UTF-8 passwords): read old containers only
COMPAT_ITERATIONS = 10
_KEY_CHECK_LABEL = b"faceveil/proface-s/compat-key-check/v1"
KEY_CHECK_HEX_CHARS = 16  # 64-bit check: tells a typo from the right password, not a secret


def key_bytes_needed(height: int, width: int) -> int:
    if (height * width) % 8:
        raise ValueError(f"key map {height}x{width} is not a whole number of bytes")
    return height * width // 8


def bits_from_bytes(data: bytes, height: int, width: int) -> np.ndarray:
    """``height*width/8`` bytes -> (height, width) int8 map of +-1."""
    if len(data) != key_bytes_needed(height, width):
        raise ValueError(f"need {key_bytes_needed(height, width)} key bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    return (bits.astype(np.int8) * 2 - 1).reshape(height, width)


def compat_password_bytes(password: str | int) -> bytes:
    """The bytes the official code feeds PBKDF2 (pycryptodome's ``tobytes``): latin-1 for a str,
    the single byte n for an integer 0 <= n < 256. Anything else is a KeyMaterialError."""
    if isinstance(password, bool) or not isinstance(password, (str, int)):
        raise KeyMaterialError(f"PRO-Face S compat password must be a str or an int, got {type(password).__name__}")
    if isinstance(password, int):
        if not 0 <= password < 256:
            raise KeyMaterialError(f"PRO-Face S integer password must be 0..255 (one byte, as the official code), got "
                                   f"{password}; for the text, pass it as a str (the CLI's --compat-password-file always does)")
        return bytes([password])
    if not password:
        raise KeyMaterialError("PRO-Face S compat mode needs a non-empty password")
    try:
        return password.encode("latin-1")
    except UnicodeEncodeError:
        raise KeyMaterialError("PRO-Face S compat password must be latin-1 text (the official code encodes it as "
                               "latin-1 and cannot take other characters); use secure mode instead") from None


def compat_key_material(password: str | int, height: int, width: int, legacy: bool = False) -> bytes:
    """The official PBKDF2-HMAC-SHA512 output for ``password`` (salt byte 0x01, 10 iterations).

    ``legacy``: faceveil's former derivation (salt "1", UTF-8), only to open containers it wrote."""
    if legacy:
        if not isinstance(password, str) or not password:
            raise KeyMaterialError("PRO-Face S compat mode needs a non-empty password")
        secret, salt = password.encode("utf-8"), LEGACY_COMPAT_SALT
    else:
        secret, salt = compat_password_bytes(password), COMPAT_SALT
    return hashlib.pbkdf2_hmac("sha512", secret, salt, COMPAT_ITERATIONS, key_bytes_needed(height, width))


def compat_key_bits(password: str | int, height: int, width: int, legacy: bool = False) -> np.ndarray:
    """(height, width) +-1 key map exactly as the released PRO-Face S code derives it."""
    return bits_from_bytes(compat_key_material(password, height, width, legacy), height, width)


def compat_key_check(password: str | int, height: int, width: int, legacy: bool = False) -> str:
    """Short hex HMAC of a fixed label under the PBKDF2 output, stored (unencrypted) in params()
    so recovery can tell a wrong password apart instead of silently producing noise."""
    material = compat_key_material(password, height, width, legacy)
    return hmac.new(material, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:KEY_CHECK_HEX_CHARS]


def verify_compat_password(password: str | int, height: int, width: int, expected_check: str) -> bool:
    """Raise WrongKeyError unless ``password`` reproduces ``expected_check``.

    Returns True when it does so only under the legacy derivation (a container written by faceveil
    before it matched the official code), so the caller derives that container's keys the old way."""
    try:
        official = compat_key_check(password, height, width)
    except KeyMaterialError:  # e.g. not latin-1: only a container of the former derivation can match
        official = None
    if official is not None and hmac.compare_digest(official, expected_check):
        return False
    if isinstance(password, str) and password and \
            hmac.compare_digest(compat_key_check(password, height, width, legacy=True), expected_check):
        return True
    raise WrongKeyError(
        "wrong PRO-Face S password (key check mismatch); pass allow_unverified to see the "
        "network's wrong-key output anyway"
    )


def secure_key_bits(derive_secret, height: int, width: int) -> np.ndarray:
    """(height, width) +-1 key map from the per-image key material (see module docstring)."""
    if derive_secret is None:
        raise KeyMaterialError(
            "PRO-Face S secure mode needs key material (a passphrase or recipient) to derive its "
            "secret key; give one, or use key_mode='compat' with a password"
        )
    return secure_key_bits_from_seed(derive_secret(SECURE_KEY_LABEL, SECURE_SEED_BYTES), height, width)


def secure_key_bits_from_seed(seed: bytes, height: int, width: int) -> np.ndarray:
    """(height, width) +-1 map: SHAKE-256 expansion of a 32-byte secret seed."""
    if len(seed) != SECURE_SEED_BYTES:
        raise ValueError(f"secure key seed must be {SECURE_SEED_BYTES} bytes, got {len(seed)}")
    expanded = hashlib.shake_256(_MAP_EXPANSION_PREFIX + seed).digest(key_bytes_needed(height, width))
    return bits_from_bytes(expanded, height, width)


def random_key_bits(batch: int, height: int, width: int, generator=None):
    """(batch, 1, height, width) float tensor of uniformly random +-1 (training keys)."""
    import torch  # lazy: keeps `import faceveil.methods.proface_s` free of torch

    bits = torch.randint(0, 2, (batch, 1, height, width), generator=generator)
    return bits.float() * 2 - 1


def key_tensor(maps: list[np.ndarray] | np.ndarray):
    """One (H, W) +-1 map or a list of them -> (B, 1, H, W) float32 torch tensor."""
    import torch

    stacked = np.stack(maps) if isinstance(maps, list) else maps[None]
    return torch.from_numpy(stacked.astype(np.float32))[:, None]
