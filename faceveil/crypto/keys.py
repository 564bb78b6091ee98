"""Key material: Argon2id passphrase keys and X25519 identities/recipients, and their key files.

A *recipient* is what sealing needs (a passphrase key with a salt, or an X25519 public key: a machine
holding only the public key can anonymize but never recover). An *identity* is what opening needs
(the passphrase, or the X25519 private key).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2.exceptions import Argon2Error
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from faceveil.crypto.primitives import KEY_BYTES
from faceveil.errors import KeyMaterialError, OutputExistsError

SALT_BYTES = 16
KEY_ID_BYTES = 8
MIN_MEMORY_KIB = 64 * 1024  # RFC 9106 second recommendation; below this only with allow_weak=True
# Upper bounds also apply to parameters read from a (possibly hostile) container: they cap the CPU
# and memory a single passphrase attempt can cost.
MAX_TIME_COST = 64
MAX_MEMORY_KIB = 2 * 1024 * 1024  # RFC 9106's first (largest) recommendation
MAX_PARALLELISM = 64
MAX_WORK_KIB = 8 * 1024 * 1024  # time_cost * memory_kib: at most ~4 passes over 2 GiB per attempt
_MAX_KEY_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters (defaults: RFC 9106 second recommended option, 64 MiB)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    def __post_init__(self) -> None:
        problem = argon2_params_problem(self.time_cost, self.memory_kib, self.parallelism)
        if problem:
            raise KeyMaterialError(f"invalid Argon2 parameters: {problem}")


def argon2_params_problem(time_cost: object, memory_kib: object, parallelism: object) -> str | None:
    """Why these Argon2id parameters are unusable, or None. Shared by key creation and container parsing."""
    for name, value, upper in (
        ("time_cost", time_cost, MAX_TIME_COST),
        ("memory_kib", memory_kib, MAX_MEMORY_KIB),
        ("parallelism", parallelism, MAX_PARALLELISM),
    ):
        if type(value) is not int or not 1 <= value <= upper:
            return f"{name} must be an integer in [1, {upper}], got {value!r}"
    if memory_kib < 8 * parallelism:  # Argon2 needs 8 KiB per lane
        return f"memory_kib must be at least 8 * parallelism ({8 * parallelism}), got {memory_kib}"
    if time_cost * memory_kib > MAX_WORK_KIB:
        return f"time_cost * memory_kib must be at most {MAX_WORK_KIB}, got {time_cost * memory_kib}"
    return None


class DerivedKeyMissingError(KeyMaterialError):
    """A ``PassphraseKey.from_master`` met a container sealed with a salt it holds no secret for
    (a file from another run); whoever holds the passphrase can derive it (``salt``, ``params``)."""

    def __init__(self, salt: bytes, params: Argon2Params) -> None:
        super().__init__(f"no derived passphrase secret for salt {salt.hex()} (sealed in another run); "
                         "the passphrase holder must derive it")
        self.salt = salt
        self.params = params

    def __reduce__(self):  # picklable (crosses process boundaries on a cluster)
        return (type(self), (self.salt, self.params))


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    # NFC so that the same visible passphrase typed on different systems gives the same key.
    data = unicodedata.normalize("NFC", passphrase).encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not isinstance(data, bytes):
        raise KeyMaterialError("passphrase must be text or bytes")
    if not data:
        raise KeyMaterialError("the passphrase is empty")
    return data


def _argon2id(passphrase: bytes, salt: bytes, params: Argon2Params) -> bytes:
    try:
        return hash_secret_raw(
            passphrase, salt, params.time_cost, params.memory_kib, params.parallelism, KEY_BYTES, Type.ID
        )
    except Argon2Error as exc:  # e.g. the machine cannot allocate memory_kib
        raise KeyMaterialError(f"Argon2id key derivation failed: {exc}") from None


class PassphraseKey:
    """A passphrase, usable both as recipient (sealing) and identity (opening).

    ``create`` picks a random salt and runs Argon2id once, so a batch that reuses the object pays for
    derivation once per run. ``for_opening`` has no salt of its own: it derives lazily for each
    (salt, params) it meets in a container and caches the result.
    """

    def __init__(self, passphrase: bytes, salt: bytes | None, params: Argon2Params | None) -> None:
        self._passphrase = passphrase
        self._salt = salt
        self._params = params
        self._cache: dict[tuple[bytes, Argon2Params], bytes] = {}

    @classmethod
    def create(
        cls, passphrase: str | bytes, params: Argon2Params = Argon2Params(), *, allow_weak: bool = False
    ) -> PassphraseKey:
        """A sealing key with a fresh 16-byte salt. ``allow_weak`` permits memory < 64 MiB (tests only)."""
        if params.memory_kib < MIN_MEMORY_KIB and not allow_weak:
            raise KeyMaterialError(
                f"Argon2 memory {params.memory_kib} KiB is below the minimum {MIN_MEMORY_KIB} KiB (64 MiB)"
            )
        key = cls(_passphrase_bytes(passphrase), secrets.token_bytes(SALT_BYTES), params)
        key.master_secret(key._salt, params)  # derive now, once
        return key

    @classmethod
    def for_opening(cls, passphrase: str | bytes) -> PassphraseKey:
        return cls(_passphrase_bytes(passphrase), None, None)

    @classmethod
    def from_master(cls, salt: bytes, params: Argon2Params, master: bytes) -> PassphraseKey:
        """A key that holds one derived secret, Argon2id(passphrase, salt), and not the passphrase:
        what a cluster worker gets (see docs/scale.md). It seals with ``salt`` and opens containers
        sealed with ``salt``; for any other salt it cannot derive and says so."""
        if len(master) != KEY_BYTES or len(salt) != SALT_BYTES:
            raise KeyMaterialError("a derived passphrase secret is 32 bytes with a 16-byte salt")
        key = cls(b"", bytes(salt), params)
        key._cache[(bytes(salt), params)] = bytes(master)
        return key

    def add_master(self, salt: bytes, params: Argon2Params, master: bytes) -> None:
        """Hold one more derived secret (a ``from_master`` key opening files of several runs)."""
        if self._passphrase or len(master) != KEY_BYTES or len(salt) != SALT_BYTES:
            raise KeyMaterialError("add_master is for keys made with from_master (32-byte secret, 16-byte salt)")
        self._cache[(bytes(salt), params)] = bytes(master)

    def holds(self, salt: bytes, params: Argon2Params) -> bool:
        return (bytes(salt), params) in self._cache

    @property
    def can_seal(self) -> bool:
        return self._salt is not None

    @property
    def salt(self) -> bytes:
        if self._salt is None:
            raise KeyMaterialError("this passphrase key was made for opening; use PassphraseKey.create to seal")
        return self._salt

    @property
    def params(self) -> Argon2Params:
        if self._params is None:
            raise KeyMaterialError("this passphrase key was made for opening; use PassphraseKey.create to seal")
        return self._params

    def master_secret(self, salt: bytes, params: Argon2Params) -> bytes:
        """Argon2id(passphrase, salt, params) -> 32 bytes, cached per (salt, params)."""
        cache_key = (bytes(salt), params)
        if cache_key not in self._cache:
            if not self._passphrase:
                raise DerivedKeyMissingError(bytes(salt), params)
            self._cache[cache_key] = _argon2id(self._passphrase, bytes(salt), params)
        return self._cache[cache_key]

    def __repr__(self) -> str:  # never show the passphrase or derived secrets
        return f"PassphraseKey(can_seal={self.can_seal}, params={self._params})"


def _key_id(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).digest()[:KEY_ID_BYTES].hex()


class X25519Recipient:
    """An X25519 public key: enough to seal containers, not to open them."""

    def __init__(self, public_key: X25519PublicKey) -> None:
        self.public_key = public_key
        self.raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = _key_id(self.raw)  # 16 hex chars, shown by `faceveil inspect`
        if self.raw == bytes(32):
            raise KeyMaterialError("the X25519 public key is all zeros (not a usable key)")

    @classmethod
    def from_bytes(cls, pem_or_raw: bytes) -> X25519Recipient:
        """From a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) or the raw 32-byte public key."""
        if len(pem_or_raw) == 32 and not pem_or_raw.startswith(b"-----"):
            return cls(X25519PublicKey.from_public_bytes(pem_or_raw))
        if b"PRIVATE KEY-----" in pem_or_raw:
            raise KeyMaterialError("this is a private key; give the public key (.pub) to anonymize")
        try:
            key = serialization.load_pem_public_key(pem_or_raw)
        except (ValueError, TypeError) as exc:
            raise KeyMaterialError(f"not a PEM public key: {exc}") from None
        if not isinstance(key, X25519PublicKey):
            raise KeyMaterialError(f"the public key is {type(key).__name__}; faceveil needs an X25519 key")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> X25519Recipient:
        return cls.from_bytes(_read_key_file(path))

    def to_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"X25519Recipient(key_id={self.key_id!r})"


class X25519Identity:
    """An X25519 private key: opens containers sealed to its public key."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self.private_key = private_key
        self.recipient = X25519Recipient(private_key.public_key())

    @property
    def key_id(self) -> str:
        return self.recipient.key_id

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, pem: bytes, passphrase: str | bytes | None = None) -> X25519Identity:
        """From a PEM PKCS8 private key, encrypted (give ``passphrase``) or not."""
        password = _passphrase_bytes(passphrase) if passphrase is not None else None
        encrypted = b"ENCRYPTED PRIVATE KEY-----" in pem
        if encrypted and password is None:
            raise KeyMaterialError("the private key file is encrypted; give its passphrase")
        if not encrypted and password is not None:
            raise KeyMaterialError("a passphrase was given but the private key file is not encrypted")
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            hint = "wrong passphrase for the private key file, or " if encrypted else ""
            raise KeyMaterialError(f"cannot load the private key ({hint}not a PEM PKCS8 key): {exc}") from None
        if not isinstance(key, X25519PrivateKey):
            raise KeyMaterialError(f"the private key is {type(key).__name__}; faceveil needs an X25519 key")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | os.PathLike, passphrase: str | bytes | None = None) -> X25519Identity:
        return cls.from_bytes(_read_key_file(path), passphrase)

    def to_pem(self, passphrase: str | bytes | None = None) -> bytes:
        encryption = (
            serialization.BestAvailableEncryption(_passphrase_bytes(passphrase))
            if passphrase is not None
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def save(
        self,
        private_path: str | os.PathLike,
        public_path: str | os.PathLike | None = None,
        passphrase: str | bytes | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the private key (mode 0600) and optionally the public key (0644), each atomically.

        Checks both destinations before writing either, so a refusal leaves nothing half-written."""
        targets = [(Path(private_path), self.to_pem(passphrase), 0o600)]
        if public_path is not None:
            targets.append((Path(public_path), self.recipient.to_pem(), 0o644))
        if not overwrite:
            for path, _, _ in targets:
                if path.exists():
                    raise OutputExistsError(f"{path} exists; refusing to overwrite a key file (use --overwrite)")
        for path, data, mode in targets:
            _write_atomic(path, data, mode, overwrite)

    def __repr__(self) -> str:
        return f"X25519Identity(key_id={self.key_id!r})"


def load_key_file(path: str | os.PathLike, passphrase: str | bytes | None = None) -> X25519Identity | X25519Recipient:
    """Load a key file, deciding by its PEM label whether it is a private or a public key."""
    data = _read_key_file(path)
    if b"-----BEGIN PUBLIC KEY-----" in data:
        return X25519Recipient.from_bytes(data)
    if b"-----BEGIN PRIVATE KEY-----" in data or b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
        return X25519Identity.from_bytes(data, passphrase)
    raise KeyMaterialError(f"{path} is not a faceveil key file (expected a PEM X25519 public or private key)")


def _read_key_file(path: str | os.PathLike) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_KEY_FILE_BYTES:
            raise KeyMaterialError(f"{path} is too large to be a key file")
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc.strerror or exc}") from None


def _write_atomic(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Write to a temporary file in the same directory with ``mode``, then rename into place.

    Without ``overwrite`` the final step is a hard link, which fails if the path appeared meanwhile."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise KeyMaterialError(f"cannot write key file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # mkstemp creates 0600; a key never exists with wider permissions
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp_name, path)
        else:
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise OutputExistsError(f"{path} exists; refusing to overwrite a key file (use --overwrite)") from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot write key file {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
