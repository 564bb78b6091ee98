"""Key material: Argon2id passphrase keys and X25519 identities/recipients, and their key files.

A *recipient* is what sealing needs (a passphrase key with a salt, or an X25519 public key: a machine
holding only the public key can anonymize but never recover). An *identity* is what opening needs
(the passphrase, or the X25519 private key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
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

from faceveil.crypto.primitives import (
    KEY_BYTES,
    LABEL_KEYFILE_AAD,
    LABEL_KEYFILE_CHECK,
    LABEL_KEYFILE_WRAP,
    TAG_BYTES,
    AuthenticationFailed,
    b64decode_exact,
    b64encode,
    canonical_json,
    hkdf_sha256,
    open_once,
    seal_once,
)
from faceveil.errors import KeyMaterialError, LimitExceededError, OutputExistsError

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

# Protected private key files (docs/format.md, "Protected private key files").
KEYFILE_FORMAT = "faceveil-private-key"
KEYFILE_VERSION = 1
_KEYFILE_BEGIN = b"-----BEGIN FACEVEIL ENCRYPTED PRIVATE KEY-----"
_KEYFILE_END = b"-----END FACEVEIL ENCRYPTED PRIVATE KEY-----"
_KEYFILE_FIELDS = frozenset(
    {"format", "version", "kdf", "time_cost", "memory_kib", "parallelism", "salt", "check", "key_id", "encrypted"}
)
_KEYFILE_CHECK_BYTES = 16


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


@dataclass(frozen=True)
class Argon2Limits:
    """The most Argon2id work one passphrase attempt may cost; checked before deriving anything.

    The parameters come from files that may be hostile (a container's passphrase stanza, a protected
    key file): without a ceiling, one file could make every attempt to open it cost gigabytes and
    many seconds. The defaults leave a wide margin over faceveil's own parameters (t=3, 64 MiB) and
    cap one attempt at 1 GiB: measured 6-12 s and 1.1 GB per attempt (docs/format.md §11, benchmarks/bench_limits.py). To open a *trusted* file made with more, pass a
    higher ceiling (``PassphraseKey.for_opening(pw, limits=...)``), at most :data:`ARGON2_FORMAT_LIMITS`.
    """

    time_cost: int = 32
    memory_kib: int = 1024 * 1024  # 1 GiB
    parallelism: int = 16
    work_kib: int = 2 * 1024 * 1024  # time_cost * memory_kib

    def __post_init__(self) -> None:
        for name, value, upper in (
            ("time_cost", self.time_cost, MAX_TIME_COST),
            ("memory_kib", self.memory_kib, MAX_MEMORY_KIB),
            ("parallelism", self.parallelism, MAX_PARALLELISM),
            ("work_kib", self.work_kib, MAX_WORK_KIB),
        ):
            if type(value) is not int or not 1 <= value <= upper:
                raise ValueError(f"Argon2Limits.{name} must be an integer in [1, {upper}] (the format's limit), got {value!r}")

    def excess(self, params: Argon2Params) -> str | None:
        """What in ``params`` is above this ceiling, or None."""
        over = [
            f"{name} {value:,} > {limit:,}"
            for name, value, limit in (
                ("time_cost", params.time_cost, self.time_cost),
                ("memory_kib", params.memory_kib, self.memory_kib),
                ("parallelism", params.parallelism, self.parallelism),
                ("time_cost*memory_kib", params.time_cost * params.memory_kib, self.work_kib),
            )
            if value > limit
        ]
        return "; ".join(over) or None


DEFAULT_ARGON2_LIMITS = Argon2Limits()
ARGON2_FORMAT_LIMITS = Argon2Limits(MAX_TIME_COST, MAX_MEMORY_KIB, MAX_PARALLELISM, MAX_WORK_KIB)  # no tighter ceiling


def check_argon2_cost(params: Argon2Params, limits: Argon2Limits, what: str) -> None:
    """LimitExceededError (exit 13) if deriving with ``params`` would exceed ``limits``."""
    excess = limits.excess(params)
    if excess:
        raise LimitExceededError(
            f"{what} asks for Argon2id time_cost={params.time_cost}, memory_kib={params.memory_kib:,}, "
            f"parallelism={params.parallelism}: above the KDF cost ceiling ({excess}); nothing was derived. "
            "If you trust this file, open it with a higher ceiling (Argon2Limits, see docs/format.md#11-limits)"
        )


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

    def __init__(
        self,
        passphrase: bytes,
        salt: bytes | None,
        params: Argon2Params | None,
        limits: Argon2Limits = DEFAULT_ARGON2_LIMITS,
    ) -> None:
        self._passphrase = passphrase
        self._salt = salt
        self._params = params
        self._limits = limits
        self._cache: dict[tuple[bytes, Argon2Params], bytes] = {}

    @classmethod
    def create(
        cls,
        passphrase: str | bytes,
        params: Argon2Params = Argon2Params(),
        *,
        allow_weak: bool = False,
        limits: Argon2Limits = DEFAULT_ARGON2_LIMITS,
    ) -> PassphraseKey:
        """A sealing key with a fresh 16-byte salt. ``allow_weak`` permits memory < 64 MiB (tests only).

        Parameters above ``limits`` are refused: files sealed with them would not open under the
        default ceiling (raise ``limits`` on both sides if you really want them)."""
        if params.memory_kib < MIN_MEMORY_KIB and not allow_weak:
            raise KeyMaterialError(
                f"Argon2 memory {params.memory_kib} KiB is below the minimum {MIN_MEMORY_KIB} KiB (64 MiB)"
            )
        excess = limits.excess(params)
        if excess:
            raise KeyMaterialError(f"Argon2 parameters above the opening ceiling ({excess}): files would not open by default")
        key = cls(_passphrase_bytes(passphrase), secrets.token_bytes(SALT_BYTES), params, limits)
        key.master_secret(key._salt, params)  # derive now, once
        return key

    def with_fresh_salt(self) -> PassphraseKey:
        """The same passphrase and parameters with a new random salt (Argon2id runs on first use):
        pixel-only images each get their own salt, as no container stanza is shared between them."""
        if self._params is None:
            raise KeyMaterialError("this passphrase key was made for opening; use PassphraseKey.create to seal")
        return PassphraseKey(self._passphrase, secrets.token_bytes(SALT_BYTES), self._params, self._limits)

    @classmethod
    def for_opening(cls, passphrase: str | bytes, *, limits: Argon2Limits = DEFAULT_ARGON2_LIMITS) -> PassphraseKey:
        """An opening key. A stanza whose Argon2id cost is above ``limits`` is refused
        (LimitExceededError) before deriving; raise ``limits`` only for files you trust."""
        return cls(_passphrase_bytes(passphrase), None, None, limits)

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
            check_argon2_cost(params, self._limits, "the passphrase recipient of this recovery payload")


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
    def from_bytes(
        cls, pem: bytes, passphrase: str | bytes | None = None, *, limits: Argon2Limits = DEFAULT_ARGON2_LIMITS
    ) -> X25519Identity:
        """From a faceveil protected key file (give ``passphrase``; its Argon2id cost must be within
        ``limits``), a PEM PKCS8 private key, or a legacy PKCS8-encrypted one (``passphrase``)."""
        password = _passphrase_bytes(passphrase) if passphrase is not None else None
        encrypted = b"ENCRYPTED PRIVATE KEY-----" in pem  # ours and legacy PKCS#8 "BEGIN ENCRYPTED PRIVATE KEY"
        if encrypted and password is None:
            raise KeyMaterialError("the private key file is encrypted; give its passphrase")
        if not encrypted and password is not None:
            raise KeyMaterialError("a passphrase was given but the private key file is not encrypted")
        if _KEYFILE_BEGIN in pem:
            return cls(X25519PrivateKey.from_private_bytes(_unprotect_private_key(pem, password, limits)))
        # Legacy (faceveil < issue 12): PKCS#8 with the cryptography library's PBKDF2, still readable.
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            hint = "wrong passphrase for the private key file, or " if encrypted else ""
            raise KeyMaterialError(f"cannot load the private key ({hint}not a PEM PKCS8 key): {exc}") from None
        if not isinstance(key, X25519PrivateKey):
            raise KeyMaterialError(f"the private key is {type(key).__name__}; faceveil needs an X25519 key")
        return cls(key)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, passphrase: str | bytes | None = None, *, limits: Argon2Limits = DEFAULT_ARGON2_LIMITS
    ) -> X25519Identity:
        return cls.from_bytes(_read_key_file(path), passphrase, limits=limits)

    def to_pem(
        self, passphrase: str | bytes | None = None, params: Argon2Params = Argon2Params(), *, allow_weak: bool = False
    ) -> bytes:
        """PEM PKCS8 without ``passphrase``; with it, a faceveil protected key file (Argon2id ``params``,
        ChaCha20-Poly1305; docs/format.md). ``allow_weak`` permits memory < 64 MiB (tests only)."""
        if passphrase is None:
            return self.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        if params.memory_kib < MIN_MEMORY_KIB and not allow_weak:
            raise KeyMaterialError(f"Argon2 memory {params.memory_kib} KiB is below the minimum {MIN_MEMORY_KIB} KiB (64 MiB)")
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return _protect_private_key(raw, self.key_id, _passphrase_bytes(passphrase), params)

    def save(
        self,
        private_path: str | os.PathLike,
        public_path: str | os.PathLike | None = None,
        passphrase: str | bytes | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the private key (mode 0600; protected by ``passphrase`` if given) and optionally the
        public key (0644), each atomically.

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


def load_key_file(
    path: str | os.PathLike, passphrase: str | bytes | None = None, *, limits: Argon2Limits = DEFAULT_ARGON2_LIMITS
) -> X25519Identity | X25519Recipient:
    """Load a key file, deciding by its PEM label whether it is a private or a public key."""
    data = _read_key_file(path)
    if b"-----BEGIN PUBLIC KEY-----" in data:
        return X25519Recipient.from_bytes(data)
    private_labels = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN ENCRYPTED PRIVATE KEY-----", _KEYFILE_BEGIN)
    if any(label in data for label in private_labels):
        return X25519Identity.from_bytes(data, passphrase, limits=limits)
    raise KeyMaterialError(f"{path} is not a faceveil key file (expected a PEM X25519 public or private key)")


# --- protected private key files (docs/format.md, "Protected private key files") ----------------


def _keyfile_check(master: bytes) -> bytes:
    return hkdf_sha256(master, info=LABEL_KEYFILE_CHECK, length=_KEYFILE_CHECK_BYTES)


def _protect_private_key(raw_private: bytes, key_id: str, passphrase: bytes, params: Argon2Params) -> bytes:
    """The armoured key file: canonical JSON of the Argon2id parameters, salt, check value, key id and
    the ChaCha20-Poly1305-encrypted raw 32-byte X25519 private key, base64 in 64-column lines."""
    salt = secrets.token_bytes(SALT_BYTES)
    master = _argon2id(passphrase, salt, params)
    public = {
        "format": KEYFILE_FORMAT,
        "version": KEYFILE_VERSION,
        "kdf": "argon2id",
        "time_cost": params.time_cost,
        "memory_kib": params.memory_kib,
        "parallelism": params.parallelism,
        "salt": b64encode(salt),
        "check": b64encode(_keyfile_check(master)),
        "key_id": key_id,
    }
    # Zero nonce (seal_once) is safe: the fresh salt makes master, hence the KEK, unique per file.
    kek = hkdf_sha256(master, info=LABEL_KEYFILE_WRAP)
    encrypted = seal_once(kek, raw_private, LABEL_KEYFILE_AAD + canonical_json(public))
    body = base64.b64encode(canonical_json(public | {"encrypted": b64encode(encrypted)}))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([_KEYFILE_BEGIN, *lines, _KEYFILE_END]) + b"\n"


def _parse_protected_key(pem: bytes) -> dict:
    """The key file's JSON object, validated; KeyMaterialError if it is not a well-formed one."""
    try:
        lines = [line.strip() for line in pem.strip().splitlines()]
        if len(lines) < 3 or lines[0] != _KEYFILE_BEGIN or lines[-1] != _KEYFILE_END:
            raise ValueError("missing or misplaced BEGIN/END lines")
        text = base64.b64decode(b"".join(lines[1:-1]), validate=True)
        fields = json.loads(text)
        if not isinstance(fields, dict) or set(fields) != _KEYFILE_FIELDS:
            raise ValueError(f"fields {sorted(fields) if isinstance(fields, dict) else type(fields).__name__}")
        if canonical_json(fields) != text:
            raise ValueError("not canonical JSON")
        if fields["format"] != KEYFILE_FORMAT:
            raise ValueError(f"format {fields['format']!r}")
        if type(fields["version"]) is not int or fields["version"] != KEYFILE_VERSION:
            raise KeyMaterialError(f"unsupported protected key file version {fields['version']!r} (this faceveil reads {KEYFILE_VERSION})")
        if fields["kdf"] != "argon2id":
            raise ValueError(f"unknown kdf {fields['kdf']!r}")
        problem = argon2_params_problem(fields["time_cost"], fields["memory_kib"], fields["parallelism"])
        if problem:
            raise ValueError(problem)
        key_id = fields["key_id"]
        if not (isinstance(key_id, str) and len(key_id) == 2 * KEY_ID_BYTES and key_id == key_id.lower()):
            raise ValueError("bad key_id")
        bytes.fromhex(key_id)
        return {
            "public": {k: v for k, v in fields.items() if k != "encrypted"},
            "params": Argon2Params(fields["time_cost"], fields["memory_kib"], fields["parallelism"]),
            "salt": b64decode_exact(fields["salt"], SALT_BYTES),
            "check": b64decode_exact(fields["check"], _KEYFILE_CHECK_BYTES),
            "key_id": key_id,
            "encrypted": b64decode_exact(fields["encrypted"], KEY_BYTES + TAG_BYTES),
        }
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise KeyMaterialError(f"damaged or not a faceveil protected key file ({exc})") from None


def _unprotect_private_key(pem: bytes, passphrase: bytes, limits: Argon2Limits) -> bytes:
    """The raw 32-byte private key. KeyMaterialError for a wrong passphrase or an altered file;
    LimitExceededError if the file asks for more Argon2id work than ``limits`` (before deriving)."""
    parsed = _parse_protected_key(pem)
    check_argon2_cost(parsed["params"], limits, "the protected private key file")
    master = _argon2id(passphrase, parsed["salt"], parsed["params"])
    if not hmac.compare_digest(_keyfile_check(master), parsed["check"]):
        raise KeyMaterialError("wrong passphrase for the private key file")
    kek = hkdf_sha256(master, info=LABEL_KEYFILE_WRAP)
    try:
        raw = open_once(kek, parsed["encrypted"], LABEL_KEYFILE_AAD + canonical_json(parsed["public"]))
    except AuthenticationFailed:
        raise KeyMaterialError("the private key file was altered: its passphrase matches but it fails authentication") from None
    if _key_id(X25519Identity(X25519PrivateKey.from_private_bytes(raw)).recipient.raw) != parsed["key_id"]:
        raise KeyMaterialError("the private key file was altered: the key does not match its key id")
    return raw


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
