"""Passphrase keys, X25519 identities/recipients and key files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from faceveil.crypto import keys as keys_module
from faceveil.crypto import Argon2Params, PassphraseKey, X25519Identity, X25519Recipient, load_key_file
from faceveil.errors import KeyMaterialError, LimitExceededError, OutputExistsError

from .conftest import WEAK_PARAMS


def test_default_argon2_params_are_rfc9106_second_recommendation():
    params = Argon2Params()
    assert params.memory_kib >= 64 * 1024
    assert (params.time_cost, params.memory_kib, params.parallelism) == (3, 65536, 4)


def test_create_refuses_weak_memory_unless_explicitly_allowed():
    with pytest.raises(KeyMaterialError, match="64 MiB"):
        PassphraseKey.create("pw", WEAK_PARAMS)
    assert PassphraseKey.create("pw", WEAK_PARAMS, allow_weak=True).can_seal


def test_create_with_default_params_derives_a_64mib_key():
    key = PassphraseKey.create("pw")
    assert key.params == Argon2Params() and len(key.salt) == 16


@pytest.mark.parametrize(
    "params",
    [dict(time_cost=0), dict(memory_kib=-1), dict(parallelism=True), dict(memory_kib=15, parallelism=2),
     dict(time_cost=1.5), dict(memory_kib=10**12), dict(time_cost=8, memory_kib=2 * 1024 * 1024)],
)
def test_invalid_argon2_params_are_typed_errors(params):
    with pytest.raises(KeyMaterialError):
        Argon2Params(**params)


def test_empty_or_non_text_passphrase_is_rejected():
    with pytest.raises(KeyMaterialError):
        PassphraseKey.for_opening("")
    with pytest.raises(KeyMaterialError):
        PassphraseKey.for_opening(1234)  # type: ignore[arg-type]


def test_create_runs_argon2_once_and_salts_differ(monkeypatch):
    calls = []
    real = keys_module._argon2id
    monkeypatch.setattr(keys_module, "_argon2id", lambda *a: calls.append(a) or real(*a))
    first = PassphraseKey.create("pw", WEAK_PARAMS, allow_weak=True)
    second = PassphraseKey.create("pw", WEAK_PARAMS, allow_weak=True)
    assert len(calls) == 2 and first.salt != second.salt
    for _ in range(3):  # repeated use within a batch reuses the derived secret
        first.master_secret(first.salt, first.params)
    assert len(calls) == 2


def test_opening_key_cannot_seal():
    with pytest.raises(KeyMaterialError, match="opening"):
        PassphraseKey.for_opening("pw").salt


def test_passphrase_text_is_unicode_normalized():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    sealing = PassphraseKey.create(composed, WEAK_PARAMS, allow_weak=True)
    opening = PassphraseKey.for_opening(decomposed)
    assert opening.master_secret(sealing.salt, WEAK_PARAMS) == sealing.master_secret(sealing.salt, WEAK_PARAMS)


def test_key_id_is_first_8_bytes_of_sha256_of_raw_public_key():
    identity = X25519Identity.generate()
    raw = identity.recipient.raw
    assert identity.key_id == hashlib.sha256(raw).digest()[:8].hex()
    assert X25519Recipient.from_bytes(raw) == identity.recipient
    assert X25519Recipient.from_bytes(identity.recipient.to_pem()).key_id == identity.key_id


def test_recipient_rejects_private_keys_garbage_and_zero_key():
    identity = X25519Identity.generate()
    with pytest.raises(KeyMaterialError, match="private key"):
        X25519Recipient.from_bytes(identity.to_pem())
    with pytest.raises(KeyMaterialError):
        X25519Recipient.from_bytes(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyMaterialError):
        X25519Recipient.from_bytes(bytes(32))


def test_save_and_load_without_passphrase(tmp_path):
    identity = X25519Identity.generate()
    private_path, public_path = tmp_path / "id.key", tmp_path / "id.pub"
    identity.save(private_path, public_path)
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private_path.read_bytes()
    loaded = X25519Identity.from_file(private_path)
    assert loaded.key_id == identity.key_id
    assert X25519Recipient.from_file(public_path) == identity.recipient
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id.key", "id.pub"]  # no temp files left behind


def test_save_and_load_with_passphrase(tmp_path):
    identity = X25519Identity.generate()
    path = tmp_path / "id.key"
    identity.save(path, passphrase="key file secret")
    assert b"BEGIN FACEVEIL ENCRYPTED PRIVATE KEY" in path.read_bytes()  # Argon2id key file (issue 12 #3)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert X25519Identity.from_file(path, "key file secret").key_id == identity.key_id
    with pytest.raises(KeyMaterialError, match="encrypted"):
        X25519Identity.from_file(path)
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        X25519Identity.from_file(path, "not it")


def test_save_refuses_to_overwrite(tmp_path):
    private_path, public_path = tmp_path / "id.key", tmp_path / "id.pub"
    public_path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        X25519Identity.generate().save(private_path, public_path)
    assert not private_path.exists() and public_path.read_bytes() == b"precious"  # nothing half-written

    first, second = X25519Identity.generate(), X25519Identity.generate()
    first.save(private_path)
    with pytest.raises(OutputExistsError):
        second.save(private_path)
    assert X25519Identity.from_file(private_path).key_id == first.key_id
    second.save(private_path, overwrite=True)
    assert X25519Identity.from_file(private_path).key_id == second.key_id
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600


def test_load_key_file_sniffs_the_kind(tmp_path):
    identity = X25519Identity.generate()
    identity.save(tmp_path / "a.key", tmp_path / "a.pub")
    identity.save(tmp_path / "b.key", passphrase="pw")
    assert isinstance(load_key_file(tmp_path / "a.pub"), X25519Recipient)
    assert load_key_file(tmp_path / "a.key").key_id == identity.key_id
    assert load_key_file(tmp_path / "b.key", passphrase="pw").key_id == identity.key_id


def test_load_key_file_rejects_other_files(tmp_path):
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    ed_pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ed.key").write_bytes(ed_pem)
    for name in ("photo.png", "ed.key", "missing.key"):
        with pytest.raises(KeyMaterialError):
            load_key_file(tmp_path / name)


# --- protected private key files (issue 12 #3) -----------------------------------------------------


def _key_file_fields(pem: bytes) -> dict:
    lines = pem.strip().splitlines()
    return json.loads(base64.b64decode(b"".join(lines[1:-1])))


def _key_file(fields: dict) -> bytes:
    body = base64.b64encode(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    return b"-----BEGIN FACEVEIL ENCRYPTED PRIVATE KEY-----\n" + body + b"\n-----END FACEVEIL ENCRYPTED PRIVATE KEY-----\n"


def test_protected_key_file_uses_the_containers_argon2id_not_pbkdf2():
    identity = X25519Identity.generate()
    pem = identity.to_pem("key file secret")
    fields = _key_file_fields(pem)
    assert fields["format"] == "faceveil-private-key" and fields["version"] == 1 and fields["kdf"] == "argon2id"
    default = Argon2Params()
    assert (fields["time_cost"], fields["memory_kib"], fields["parallelism"]) == (
        default.time_cost, default.memory_kib, default.parallelism)
    assert fields["key_id"] == identity.key_id
    assert len(base64.b64decode(fields["encrypted"])) == 48  # 32-byte key + 16-byte tag
    raw = identity.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
    assert raw not in pem and base64.b64encode(raw) not in pem
    assert b"PRIVATE KEY" in pem and b"pbkdf2" not in pem.lower()
    # the spec in docs/format.md, recomputed independently: Argon2id -> HKDF -> ChaCha20-Poly1305
    from argon2.low_level import Type, hash_secret_raw
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    master = hash_secret_raw(b"key file secret", base64.b64decode(fields["salt"]), 3, 65536, 4, 32, Type.ID)
    kek = HKDF(hashes.SHA256(), 32, salt=None, info=b"faceveil/v1\x00keyfile-wrap").derive(master)
    public = {k: v for k, v in fields.items() if k != "encrypted"}
    aad = b"faceveil/v1\x00keyfile\x00" + json.dumps(public, sort_keys=True, separators=(",", ":")).encode()
    assert ChaCha20Poly1305(kek).decrypt(bytes(12), base64.b64decode(fields["encrypted"]), aad) == raw
    check = HKDF(hashes.SHA256(), 16, salt=None, info=b"faceveil/v1\x00keyfile-check").derive(master)
    assert base64.b64decode(fields["check"]) == check


def test_protected_key_file_refuses_wrong_passphrase_and_edits():
    identity = X25519Identity.generate()
    pem = identity.to_pem("pw", WEAK_PARAMS, allow_weak=True)
    assert X25519Identity.from_bytes(pem, "pw").key_id == identity.key_id
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        X25519Identity.from_bytes(pem, "not it")
    fields = _key_file_fields(pem)
    other = X25519Identity.generate().key_id
    encrypted = bytearray(base64.b64decode(fields["encrypted"]))
    encrypted[0] ^= 1
    with pytest.raises(KeyMaterialError, match="altered"):  # key id is authenticated
        X25519Identity.from_bytes(_key_file(fields | {"key_id": other}), "pw")
    with pytest.raises(KeyMaterialError, match="altered"):
        X25519Identity.from_bytes(_key_file(fields | {"encrypted": base64.b64encode(bytes(encrypted)).decode()}), "pw")
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):  # edited KDF params change the check value
        X25519Identity.from_bytes(_key_file(fields | {"time_cost": 2}), "pw")
    for bad in (fields | {"version": 2}, fields | {"kdf": "pbkdf2"}, {k: v for k, v in fields.items() if k != "salt"},
                fields | {"extra": 1}, fields | {"memory_kib": 2**40}, fields | {"salt": "AAAA"}):
        with pytest.raises(KeyMaterialError):
            X25519Identity.from_bytes(_key_file(bad), "pw")
    for garbage in (pem.replace(b"-----END", b"-----FIN"), pem[:60] + b"!!" + pem[62:], pem[:-80] + pem[-45:]):
        with pytest.raises(KeyMaterialError):
            X25519Identity.from_bytes(garbage, "pw")


def test_protected_key_file_kdf_cost_is_capped_before_deriving():
    identity = X25519Identity.generate()
    fields = _key_file_fields(identity.to_pem("pw", WEAK_PARAMS, allow_weak=True))
    hostile = _key_file(fields | {"time_cost": 4, "memory_kib": 2 * 1024 * 1024, "parallelism": 4})
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match="protected private key file asks for Argon2id"):
        X25519Identity.from_bytes(hostile, "pw")
    assert time.perf_counter() - started < 0.5


def test_legacy_pkcs8_encrypted_key_files_still_load(tmp_path):
    identity = X25519Identity.generate()
    legacy = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"old pw"))
    path = tmp_path / "old.key"
    path.write_bytes(legacy)
    assert load_key_file(path, "old pw").key_id == identity.key_id
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        load_key_file(path, "nope")
    with pytest.raises(KeyMaterialError, match="encrypted; give its passphrase"):
        load_key_file(path)
