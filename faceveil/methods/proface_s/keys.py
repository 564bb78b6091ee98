"""Secret key bit maps for PRO-Face S.

A key is an (H, W) map of +-1 values (bit 1 -> +1, bit 0 -> -1; bytes unpacked most significant
bit first, filled row by row), fed to the network at full image resolution.

Two ways to get one:
- **compat**: the paper's derivation, so the official checkpoint works with its password:
  ``PBKDF2-HMAC-SHA512(password, salt=b"1", iterations=10, length=H*W/8)``. Weak by design (fixed
  salt, 10 iterations); use only to interoperate.
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
COMPAT_SALT = b"1"
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


def compat_key_material(password: str, height: int, width: int) -> bytes:
    """The paper's PBKDF2-HMAC-SHA512 output for ``password`` (salt "1", 10 iterations)."""
    if not password:
        raise KeyMaterialError("PRO-Face S compat mode needs a non-empty password")
    return hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8"), COMPAT_SALT, COMPAT_ITERATIONS, key_bytes_needed(height, width)
    )


def compat_key_bits(password: str, height: int, width: int) -> np.ndarray:
    """(height, width) +-1 key map exactly as the released PRO-Face S code derives it."""
    return bits_from_bytes(compat_key_material(password, height, width), height, width)


def compat_key_check(password: str, height: int, width: int) -> str:
    """Short hex HMAC of a fixed label under the PBKDF2 output, stored (unencrypted) in params()
    so recovery can tell a wrong password apart instead of silently producing noise."""
    material = compat_key_material(password, height, width)
    return hmac.new(material, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:KEY_CHECK_HEX_CHARS]


def verify_compat_password(password: str, height: int, width: int, expected_check: str) -> None:
    """Raise WrongKeyError unless ``password`` reproduces ``expected_check``."""
    if not hmac.compare_digest(compat_key_check(password, height, width), expected_check):
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
