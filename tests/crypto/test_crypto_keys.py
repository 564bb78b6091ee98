"""Passphrase keys, X25519 identities/recipients and key files."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from faceveil.crypto import keys as keys_module
from faceveil.crypto import Argon2Params, PassphraseKey, X25519Identity, X25519Recipient, load_key_file
from faceveil.errors import KeyMaterialError, OutputExistsError

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
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()
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
