"""Content keys and recipient stanzas."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from faceveil.crypto import keys as keys_module
from faceveil.crypto import (
    ARGON2_FORMAT_LIMITS,
    Argon2Limits,
    Argon2Params,
    ContentKey,
    PassphraseKey,
    X25519Identity,
    unwrap_content_key,
    wrap_content_key,
)
from faceveil.errors import KeyMaterialError, LimitExceededError, PayloadCorruptError, TamperedPayloadError, WrongKeyError

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


def test_passphrase_stanza_count_is_bounded(passphrase_key, identity):
    """Issue 12 #4: one passphrase stanza per container, so a passphrase costs one Argon2id run."""
    with pytest.raises(KeyMaterialError, match="at most 1 passphrase"):
        wrap_content_key(ContentKey.generate(), [passphrase_key] * 2, AAD)
    stanzas = wrap_content_key(ContentKey.generate(), [passphrase_key, identity.recipient], AAD)
    opener = PassphraseKey.for_opening(PASSPHRASE)
    with pytest.raises(PayloadCorruptError, match="more recipient stanzas"):
        unwrap_content_key(stanzas + stanzas[:1], [opener], AAD)
    assert opener._cache == {}  # refused before any key derivation


def _over_default_ceiling(stanza: dict) -> dict:
    # The audit's stanza: t=4, m=2 GiB is within the format's hard limits but would cost ~12 s and
    # 2 GiB per attempt; the default ceiling refuses it before deriving.
    return stanza | {"time_cost": 4, "memory_kib": 2 * 1024 * 1024, "parallelism": 4}


def test_kdf_cost_above_the_ceiling_is_refused_before_any_work(passphrase_key):
    stanza = wrap_content_key(ContentKey.generate(), [passphrase_key], AAD)[0]
    opener = PassphraseKey.for_opening(PASSPHRASE)
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match=r"memory_kib 2,097,152 > 1,048,576.*trust") as raised:
        unwrap_content_key([_over_default_ceiling(stanza)], [opener], AAD)
    assert time.perf_counter() - started < 0.5 and opener._cache == {}
    assert raised.value.exit_code == 13


def test_kdf_ceiling_is_configurable(passphrase_key):
    key = ContentKey.generate()
    stanzas = wrap_content_key(key, [passphrase_key], AAD)  # WEAK_PARAMS: t=1, 1 MiB, p=1
    tight = Argon2Limits(time_cost=1, memory_kib=512, parallelism=1, work_kib=512)
    with pytest.raises(LimitExceededError, match="memory_kib 1,024 > 512"):
        unwrap_content_key(stanzas, [PassphraseKey.for_opening(PASSPHRASE, limits=tight)], AAD)
    assert unwrap_content_key(stanzas, [PassphraseKey.for_opening(PASSPHRASE)], AAD) == key
    raised = Argon2Limits(memory_kib=2 * 1024 * 1024, work_kib=8 * 1024 * 1024)
    assert raised.excess(Argon2Params(4, 2 * 1024 * 1024, 4)) is None  # the override admits the audit's stanza
    assert ARGON2_FORMAT_LIMITS.excess(Argon2Params(64, 128 * 1024, 64)) is None
    with pytest.raises(ValueError, match="format's limit"):
        Argon2Limits(memory_kib=4 * 1024 * 1024)  # a ceiling cannot exceed what the format allows


def test_sealing_above_the_ceiling_is_refused():
    with pytest.raises(KeyMaterialError, match="would not open by default"):
        PassphraseKey.create(PASSPHRASE, Argon2Params(time_cost=1, memory_kib=2 * 1024 * 1024, parallelism=4))


def test_private_keys_are_tried_before_a_costly_passphrase(passphrase_key, identity):
    key = ContentKey.generate()
    stanzas = wrap_content_key(key, [passphrase_key, identity.recipient], AAD)
    hostile = [_over_default_ceiling(stanzas[0]), stanzas[1]]
    opener = PassphraseKey.for_opening(PASSPHRASE)
    assert unwrap_content_key(hostile, [opener, identity], AAD) == key
    assert opener._cache == {}
