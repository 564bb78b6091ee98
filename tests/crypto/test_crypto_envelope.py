"""Content keys and recipient stanzas."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from faceveil.crypto import keys as keys_module
from faceveil.crypto import ContentKey, PassphraseKey, X25519Identity, unwrap_content_key, wrap_content_key
from faceveil.errors import KeyMaterialError, PayloadCorruptError, TamperedPayloadError, WrongKeyError

from .conftest import PASSPHRASE

AAD = b"header bytes"


def test_derive_is_hkdf_sha256_with_faceveil_label():
    key = ContentKey.generate()
    expected = HKDF(hashes.SHA256(), 24, salt=None, info=b"faceveil/v1/face/0/bits").derive(key.to_bytes())
    assert key.derive("face/0/bits", 24) == expected
    assert key.derive("face/0/bits", 24) != key.derive("face/1/bits", 24)
    assert ContentKey(key.to_bytes()) == key and key != ContentKey.generate()
    assert "secret" in repr(key) and key.to_bytes().hex() not in repr(key)


def test_derive_rejects_bad_arguments():
    key = ContentKey.generate()
    with pytest.raises(ValueError):
        key.derive("", 16)
    with pytest.raises(ValueError):
        key.derive("x", 0)


@pytest.mark.parametrize("kinds", [("passphrase",), ("x25519",), ("passphrase", "x25519")])
def test_each_recipient_opens_its_stanza(kinds, passphrase_key, identity):
    key = ContentKey.generate()
    recipients = [{"passphrase": passphrase_key, "x25519": identity.recipient}[k] for k in kinds]
    stanzas = wrap_content_key(key, recipients, AAD)
    assert [s["type"] for s in stanzas] == list(kinds)
    openers = {"passphrase": PassphraseKey.for_opening(PASSPHRASE), "x25519": identity}
    for kind in kinds:
        assert unwrap_content_key(stanzas, [openers[kind]], AAD) == key


def test_stanzas_record_kdf_params_and_fresh_wrap_randomness(passphrase_key, identity):
    key = ContentKey.generate()
    first = wrap_content_key(key, [passphrase_key, identity.recipient], AAD)
    second = wrap_content_key(key, [passphrase_key, identity.recipient], AAD)
    p = first[0]
    assert (p["kdf"], p["time_cost"], p["memory_kib"], p["parallelism"]) == ("argon2id", 1, 1024, 1)
    assert first[0]["salt"] == second[0]["salt"]  # same batch key, Argon2 ran once...
    assert first[0]["wrap_salt"] != second[0]["wrap_salt"]  # ...but every wrap uses a fresh KEK
    assert first[1]["epk"] != second[1]["epk"] and first[1]["key_id"] == identity.key_id


def test_wrong_passphrase_and_wrong_private_key(passphrase_key, identity):
    stanzas = wrap_content_key(ContentKey.generate(), [passphrase_key, identity.recipient], AAD)
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        unwrap_content_key(stanzas, [PassphraseKey.for_opening("Tr0ub4dor&3")], AAD)
    stranger = X25519Identity.generate()
    with pytest.raises(WrongKeyError, match=f"{stranger.key_id}.*not a recipient.*{identity.key_id}"):
        unwrap_content_key(stanzas, [stranger], AAD)


def test_passphrase_against_key_only_container_says_so(identity):
    stanzas = wrap_content_key(ContentKey.generate(), [identity.recipient], AAD)
    with pytest.raises(WrongKeyError, match="no passphrase recipient"):
        unwrap_content_key(stanzas, [PassphraseKey.for_opening(PASSPHRASE)], AAD)


def test_right_key_with_altered_header_is_tampering_not_wrong_key(passphrase_key, identity):
    stanzas = wrap_content_key(ContentKey.generate(), [passphrase_key, identity.recipient], AAD)
    for opener in (PassphraseKey.for_opening(PASSPHRASE), identity):
        with pytest.raises(TamperedPayloadError):
            unwrap_content_key(stanzas, [opener], AAD + b"!")


def test_opening_derives_once_per_salt(monkeypatch, passphrase_key):
    stanzas = [wrap_content_key(ContentKey.generate(), [passphrase_key], AAD) for _ in range(3)]
    calls = []
    real = keys_module._argon2id
    monkeypatch.setattr(keys_module, "_argon2id", lambda *a: calls.append(a) or real(*a))
    opener = PassphraseKey.for_opening(PASSPHRASE)
    for s in stanzas:
        unwrap_content_key(s, [opener], AAD)
    assert len(calls) == 1


def test_missing_recipients_or_identities_are_key_material_errors(identity):
    with pytest.raises(KeyMaterialError):
        wrap_content_key(ContentKey.generate(), [], AAD)
    with pytest.raises(KeyMaterialError):
        wrap_content_key(ContentKey.generate(), [PassphraseKey.for_opening(PASSPHRASE)], AAD)
    stanzas = wrap_content_key(ContentKey.generate(), [identity.recipient], AAD)
    with pytest.raises(KeyMaterialError):
        unwrap_content_key(stanzas, [], AAD)


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s | {"type": "rsa"},
        lambda s: s | {"wrapped": s["wrapped"][:-4]},
        lambda s: s | {"epk": "!!notbase64"},
        lambda s: s | {"key_id": 7},
        lambda s: {k: v for k, v in s.items() if k != "epk"},
        lambda s: s | {"extra_field": 1},
    ],
)
def test_malformed_stanzas_are_corrupt_payloads(edit, identity):
    stanza = wrap_content_key(ContentKey.generate(), [identity.recipient], AAD)[0]
    with pytest.raises(PayloadCorruptError):
        unwrap_content_key([edit(stanza)], [identity], AAD)


def test_hostile_kdf_params_are_rejected_before_deriving(passphrase_key):
    stanza = wrap_content_key(ContentKey.generate(), [passphrase_key], AAD)[0]
    too_much_work = {"time_cost": 64, "memory_kib": 2 * 1024 * 1024}
    for hostile in ({"memory_kib": 2**40}, {"time_cost": 10**6}, too_much_work, {"kdf": "scrypt"}):
        with pytest.raises(PayloadCorruptError):
            unwrap_content_key([stanza | hostile], [PassphraseKey.for_opening(PASSPHRASE)], AAD)


def test_passphrase_stanza_count_is_bounded(passphrase_key):
    with pytest.raises(KeyMaterialError, match="at most 4 passphrases"):
        wrap_content_key(ContentKey.generate(), [passphrase_key] * 5, AAD)
    stanzas = wrap_content_key(ContentKey.generate(), [passphrase_key] * 4, AAD)
    with pytest.raises(PayloadCorruptError, match="more recipient stanzas"):
        unwrap_content_key(stanzas + stanzas[:1], [PassphraseKey.for_opening(PASSPHRASE)], AAD)
