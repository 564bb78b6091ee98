"""Key material, envelope encryption and the versioned recovery container (see docs/format.md)."""

from faceveil.crypto.container import (
    ContainerInfo,
    OpenedContainer,
    Region,
    open_container,
    pixel_digest,
    read_info,
    seal,
    verify_pixels,
)
from faceveil.crypto.envelope import ContentKey, Identity, Recipient, unwrap_content_key, wrap_content_key
from faceveil.crypto.keys import (
    ARGON2_FORMAT_LIMITS,
    DEFAULT_ARGON2_LIMITS,
    Argon2Limits,
    Argon2Params,
    PassphraseKey,
    X25519Identity,
    X25519Recipient,
    load_key_file,
)

__all__ = [
    "ARGON2_FORMAT_LIMITS",
    "DEFAULT_ARGON2_LIMITS",
    "Argon2Limits",
    "Argon2Params",
    "ContainerInfo",
    "ContentKey",
    "Identity",
    "OpenedContainer",
    "PassphraseKey",
    "Recipient",
    "Region",
    "X25519Identity",
    "X25519Recipient",
    "load_key_file",
    "open_container",
    "pixel_digest",
    "read_info",
    "seal",
    "unwrap_content_key",
    "verify_pixels",
    "wrap_content_key",
]
