"""Content keys and recipient stanzas: how one random per-image key is wrapped for each recipient.

Stanzas are JSON objects (binary fields in canonical base64) stored in the container's clear header:

- passphrase: ``{"type": "passphrase", "kdf": "argon2id", "time_cost", "memory_kib", "parallelism",
  "salt", "check", "wrap_salt", "wrapped"}``. master = Argon2id(passphrase, salt); check =
  HKDF(master, "passphrase-check")[:16] tells a wrong passphrase apart from a tampered stanza;
  KEK = HKDF(master, salt=wrap_salt, "passphrase-wrap"), fresh per stanza.
- x25519: ``{"type": "x25519", "key_id", "epk", "wrapped"}``. KEK = HKDF(X25519(eph, recipient),
  salt = epk || recipient_pub, "x25519-wrap"), fresh per stanza because the ephemeral key is.

``wrapped`` = ChaCha20-Poly1305(KEK, zero nonce, content key, aad = caller aad || canonical stanza
without "wrapped"), so every clear stanza field and the caller's header are authenticated by the wrap.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from faceveil.crypto.keys import (
    KEY_ID_BYTES,
    SALT_BYTES,
    Argon2Params,
    PassphraseKey,
    X25519Identity,
    X25519Recipient,
    argon2_params_problem,
)
from faceveil.crypto.primitives import (
    KEY_BYTES,
    LABEL_PASSPHRASE_CHECK,
    LABEL_PASSPHRASE_WRAP,
    LABEL_X25519_WRAP,
    TAG_BYTES,
    AuthenticationFailed,
    b64decode_exact,
    b64encode,
    canonical_json,
    hkdf_sha256,
    open_once,
    seal_once,
)
from faceveil.errors import KeyMaterialError, PayloadCorruptError, TamperedPayloadError, WrongKeyError

Recipient = PassphraseKey | X25519Recipient
Identity = PassphraseKey | X25519Identity

CHECK_BYTES = 16
WRAP_SALT_BYTES = 16
MAX_STANZAS = 64
# Each passphrase stanza costs a passphrase an Argon2id run to try, and nothing in a stanza says which
# one a passphrase opens: with one stanza at most, a passphrase is tried exactly once per container
# (its cost capped by keys.Argon2Limits). Several people use X25519 keys, which cost nothing to skip.
MAX_PASSPHRASE_STANZAS = 1
_WRAPPED_BYTES = KEY_BYTES + TAG_BYTES
_MAX_DERIVE_BYTES = 255 * 32  # HKDF-SHA256 output limit


class ContentKey:
    """The random 32-byte key of one image (or one video); everything else is derived from it."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError(f"a content key is exactly {KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def generate(cls) -> ContentKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def derive(self, label: str, length: int) -> bytes:
        """HKDF-SHA256(content key, info = b"faceveil/v1/" + label) -> ``length`` bytes.

        Used by learned methods for per-face secrets; distinct labels give independent secrets."""
        if not isinstance(label, str) or not label:
            raise ValueError("derive() needs a non-empty label")
        if not 1 <= length <= _MAX_DERIVE_BYTES:
            raise ValueError(f"derive() length must be in [1, {_MAX_DERIVE_BYTES}]")
        return hkdf_sha256(self._key, info=b"faceveil/v1/" + label.encode("utf-8"), length=length)

    def to_bytes(self) -> bytes:
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContentKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return "ContentKey(<secret>)"


def wrap_content_key(key: ContentKey, recipients: Sequence[Recipient], aad: bytes) -> list[dict]:
    """One stanza per recipient (see module docstring). ``aad`` binds the stanzas to the caller's header."""
    if not recipients:
        raise KeyMaterialError("no recipients: give a passphrase and/or a public key file")
    if len(recipients) > MAX_STANZAS:
        raise KeyMaterialError(f"at most {MAX_STANZAS} recipients per container")
    if sum(isinstance(r, PassphraseKey) for r in recipients) > MAX_PASSPHRASE_STANZAS:
        raise KeyMaterialError(
            f"at most {MAX_PASSPHRASE_STANZAS} passphrase per container; give other people X25519 keys (faceveil keygen)"
        )
    stanzas = []
    for recipient in recipients:
        if isinstance(recipient, PassphraseKey):
            stanzas.append(_wrap_for_passphrase(key, recipient, aad))
        elif isinstance(recipient, X25519Recipient):
            stanzas.append(_wrap_for_x25519(key, recipient, aad))
        elif isinstance(recipient, X25519Identity):
            stanzas.append(_wrap_for_x25519(key, recipient.recipient, aad))
        else:
            raise TypeError(f"not a recipient: {type(recipient).__name__}")
    return stanzas


def unwrap_content_key(stanzas: Sequence[dict], identities: Sequence[Identity], aad: bytes) -> ContentKey:
    """The content key from the first stanza one of ``identities`` opens.

    WrongKeyError if no identity matches any stanza; TamperedPayloadError if an identity matches a
    stanza (right passphrase check value, or key id of the private key) but the wrap does not verify;
    PayloadCorruptError if a stanza is malformed.
    """
    if not identities:
        raise KeyMaterialError("no passphrase or private key given to open the recovery payload")
    parsed = [_parse_stanza(s) for s in stanzas]
    if len(parsed) > MAX_STANZAS or sum(s["type"] == "passphrase" for s in parsed) > MAX_PASSPHRASE_STANZAS:
        raise PayloadCorruptError("recovery payload has more recipient stanzas than faceveil ever writes")
    # Private keys first: they cost nothing to try, and a file one of them opens never asks a
    # passphrase for Argon2id work (or trips the KDF cost ceiling).
    ordered = sorted(identities, key=lambda identity: isinstance(identity, PassphraseKey))
    for identity in ordered:
        for stanza in parsed:
            kek = _matching_kek(stanza, identity)
            if kek is None:
                continue
            try:
                return ContentKey(open_once(kek, stanza["wrapped"], _stanza_aad(aad, stanza["public"])))
            except AuthenticationFailed:
                raise TamperedPayloadError(
                    "the recovery payload was altered: the key matches but its header or key stanza "
                    "fails authentication"
                ) from None
    raise WrongKeyError(_wrong_key_message(parsed, identities))


# --- wrapping -----------------------------------------------------------------------------------


def _stanza_aad(aad: bytes, public_fields: dict) -> bytes:
    return aad + b"\x00" + canonical_json(public_fields)


def _passphrase_check(master: bytes) -> bytes:
    return hkdf_sha256(master, info=LABEL_PASSPHRASE_CHECK, length=CHECK_BYTES)


def _wrap_for_passphrase(key: ContentKey, recipient: PassphraseKey, aad: bytes) -> dict:
    params = recipient.params  # KeyMaterialError for a for_opening() key
    master = recipient.master_secret(recipient.salt, params)
    wrap_salt = secrets.token_bytes(WRAP_SALT_BYTES)
    public = {
        "type": "passphrase",
        "kdf": "argon2id",
        "time_cost": params.time_cost,
        "memory_kib": params.memory_kib,
        "parallelism": params.parallelism,
        "salt": b64encode(recipient.salt),
        "check": b64encode(_passphrase_check(master)),
        "wrap_salt": b64encode(wrap_salt),
    }
    kek = hkdf_sha256(master, salt=wrap_salt, info=LABEL_PASSPHRASE_WRAP)
    return public | {"wrapped": b64encode(seal_once(kek, key.to_bytes(), _stanza_aad(aad, public)))}


def _x25519_kek(shared: bytes, epk: bytes, recipient_raw: bytes) -> bytes:
    return hkdf_sha256(shared, salt=epk + recipient_raw, info=LABEL_X25519_WRAP)


def _wrap_for_x25519(key: ContentKey, recipient: X25519Recipient, aad: bytes) -> dict:
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        shared = ephemeral.exchange(recipient.public_key)
    except ValueError:  # low-order public key: the shared secret would be all zeros
        raise KeyMaterialError(f"X25519 public key {recipient.key_id} is not a usable key") from None
    public = {"type": "x25519", "key_id": recipient.key_id, "epk": b64encode(epk)}
    kek = _x25519_kek(shared, epk, recipient.raw)
    return public | {"wrapped": b64encode(seal_once(kek, key.to_bytes(), _stanza_aad(aad, public)))}


# --- unwrapping ---------------------------------------------------------------------------------

_PASSPHRASE_FIELDS = {"type", "kdf", "time_cost", "memory_kib", "parallelism", "salt", "check", "wrap_salt", "wrapped"}
_X25519_FIELDS = {"type", "key_id", "epk", "wrapped"}


def _parse_stanza(stanza: object) -> dict:
    """Validate one stanza; returns {"type", "public" (fields bound by the wrap), decoded binaries...}."""
    try:
        if not isinstance(stanza, dict):
            raise ValueError("not an object")
        kind = stanza.get("type")
        expected = {"passphrase": _PASSPHRASE_FIELDS, "x25519": _X25519_FIELDS}.get(kind)
        if expected is None:
            raise ValueError(f"unknown recipient type {kind!r}")
        if set(stanza) != expected:
            raise ValueError(f"fields {sorted(stanza)} do not match {sorted(expected)}")
        parsed = {
            "type": kind,
            "public": {k: v for k, v in stanza.items() if k != "wrapped"},
            "wrapped": b64decode_exact(stanza["wrapped"], _WRAPPED_BYTES),
        }
        if kind == "passphrase":
            if stanza["kdf"] != "argon2id":
                raise ValueError(f"unknown kdf {stanza['kdf']!r}")
            problem = argon2_params_problem(stanza["time_cost"], stanza["memory_kib"], stanza["parallelism"])
            if problem:
                raise ValueError(problem)
            parsed["params"] = Argon2Params(stanza["time_cost"], stanza["memory_kib"], stanza["parallelism"])
            parsed["salt"] = b64decode_exact(stanza["salt"], SALT_BYTES)
            parsed["check"] = b64decode_exact(stanza["check"], CHECK_BYTES)
            parsed["wrap_salt"] = b64decode_exact(stanza["wrap_salt"], WRAP_SALT_BYTES)
        else:
            key_id = stanza["key_id"]
            if not (isinstance(key_id, str) and len(key_id) == 2 * KEY_ID_BYTES and key_id == key_id.lower()):
                raise ValueError("bad key_id")
            bytes.fromhex(key_id)
            parsed["epk"] = b64decode_exact(stanza["epk"], 32)
        return parsed
    except (ValueError, TypeError, AttributeError) as exc:
        raise PayloadCorruptError(f"recovery payload has a malformed recipient stanza: {exc}") from None


def _matching_kek(stanza: dict, identity: Identity) -> bytes | None:
    """The KEK if ``identity`` is this stanza's recipient, else None."""
    if stanza["type"] == "passphrase" and isinstance(identity, PassphraseKey):
        master = identity.master_secret(stanza["salt"], stanza["params"])
        if not hmac.compare_digest(_passphrase_check(master), stanza["check"]):
            return None
        return hkdf_sha256(master, salt=stanza["wrap_salt"], info=LABEL_PASSPHRASE_WRAP)
    if stanza["type"] == "x25519" and isinstance(identity, X25519Identity):
        if stanza["public"]["key_id"] != identity.key_id:
            return None
        try:
            shared = identity.private_key.exchange(X25519PublicKey.from_public_bytes(stanza["epk"]))
        except ValueError:  # low-order ephemeral key: only a forged stanza has one
            raise TamperedPayloadError("the recovery payload was altered: invalid ephemeral key") from None
        return _x25519_kek(shared, stanza["epk"], identity.recipient.raw)
    if not isinstance(identity, (PassphraseKey, X25519Identity)):
        raise TypeError(f"not an identity: {type(identity).__name__}")
    return None


def _wrong_key_message(stanzas: list[dict], identities: Sequence[Identity]) -> str:
    key_ids = [s["public"]["key_id"] for s in stanzas if s["type"] == "x25519"]
    has_passphrase_stanza = any(s["type"] == "passphrase" for s in stanzas)
    gave_passphrase = any(isinstance(i, PassphraseKey) for i in identities)
    gave_private_key = any(isinstance(i, X25519Identity) for i in identities)
    reasons = []
    if gave_passphrase:
        reasons.append("wrong passphrase" if has_passphrase_stanza else "this payload has no passphrase recipient")
    if gave_private_key:
        given = ", ".join(i.key_id for i in identities if isinstance(i, X25519Identity))
        listed = ", ".join(key_ids) if key_ids else "none"
        reasons.append(f"this private key ({given}) is not a recipient (recipients: key ids {listed})")
    if not gave_private_key and key_ids:
        reasons.append(f"it can also be opened with private key(s) {', '.join(key_ids)}")
    return "cannot open the recovery payload: " + "; ".join(reasons)
