import hashlib
import hmac

import numpy as np
import pytest

from faceveil.errors import KeyMaterialError, WrongKeyError
from faceveil.methods.proface_s import keys


def _pbkdf2_sha512_by_hand(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """RFC 8018 PBKDF2 written out from HMAC, independent of hashlib.pbkdf2_hmac."""
    out = b""
    block = 1
    while len(out) < length:
        u = hmac.new(password, salt + block.to_bytes(4, "big"), hashlib.sha512).digest()
        acc = bytearray(u)
        for _ in range(iterations - 1):
            u = hmac.new(password, u, hashlib.sha512).digest()
            acc = bytearray(a ^ b for a, b in zip(acc, u))
        out += bytes(acc)
        block += 1
    return out[:length]


def test_compat_map_is_the_papers_pbkdf2_bits():
    h = w = 32  # 128 bytes = two SHA-512 blocks, so block chaining is exercised
    # the official salt is the integer 1: pycryptodome makes it the byte 0x01, not the character "1"
    expected = _pbkdf2_sha512_by_hand(b"hello", b"\x01", 10, h * w // 8)
    bits = keys.compat_key_bits("hello", h, w)
    assert bits.shape == (h, w) and bits.dtype == np.int8
    # first byte, most significant bit first, bit 1 -> +1, bit 0 -> -1
    first = [1 if (expected[0] >> (7 - i)) & 1 else -1 for i in range(8)]
    assert bits[0, :8].tolist() == first
    assert np.array_equal((bits.reshape(-1) > 0).astype(np.uint8), np.unpackbits(np.frombuffer(expected, np.uint8)))


def test_compat_map_at_full_crop_size_has_balanced_bits():
    bits = keys.compat_key_bits("password", 256, 256)
    assert bits.shape == (256, 256)
    assert abs(bits.mean()) < 0.02


def test_key_check_accepts_the_password_and_rejects_others():
    check = keys.compat_key_check("correct horse", 256, 256)
    assert len(check) == keys.KEY_CHECK_HEX_CHARS
    keys.verify_compat_password("correct horse", 256, 256, check)
    with pytest.raises(WrongKeyError):
        keys.verify_compat_password("correct horsf", 256, 256, check)


def test_empty_password_is_refused():
    with pytest.raises(KeyMaterialError):
        keys.compat_key_bits("", 16, 16)


def test_compat_passwords_are_the_official_bytes():
    # str -> latin-1 (so a non-ASCII password differs from its UTF-8 bytes), int n -> the byte n
    assert keys.compat_password_bytes("pässwörd") == "pässwörd".encode("latin-1") != "pässwörd".encode("utf-8")
    assert keys.compat_password_bytes(0) == b"\x00"
    expected = _pbkdf2_sha512_by_hand(b"p\xe4ssw\xf6rd", b"\x01", 10, 8)
    assert np.array_equal((keys.compat_key_bits("pässwörd", 8, 8).reshape(-1) > 0).astype(np.uint8),
                          np.unpackbits(np.frombuffer(expected, np.uint8)))
    assert not np.array_equal(keys.compat_key_bits(0, 16, 16), keys.compat_key_bits("0", 16, 16))


@pytest.mark.parametrize("password", ["密码", 256, -1, True, 1.5, b"bytes"])
def test_passwords_the_official_code_cannot_take_are_clear_errors(password):
    with pytest.raises(KeyMaterialError):
        keys.compat_key_bits(password, 16, 16)


def test_key_check_of_the_former_derivation_is_still_recognised():
    legacy = keys.compat_key_check("correct horse", 256, 256, legacy=True)
    assert legacy != keys.compat_key_check("correct horse", 256, 256)
    assert keys.verify_compat_password("correct horse", 256, 256, legacy) is True  # derive that container's keys the old way
    assert keys.verify_compat_password("correct horse", 256, 256, keys.compat_key_check("correct horse", 256, 256)) is False
    with pytest.raises(WrongKeyError):
        keys.verify_compat_password("correct horsf", 256, 256, legacy)
    # a password the official code cannot take (not latin-1) still opens a container of the former derivation
    assert keys.verify_compat_password("密码", 16, 16, keys.compat_key_check("密码", 16, 16, legacy=True)) is True
    with pytest.raises(WrongKeyError):
        keys.verify_compat_password("密码", 16, 16, legacy)


def _deriver(material: bytes):
    return lambda label, n: hashlib.blake2b(material + label.encode(), digest_size=n).digest()


def test_secure_maps_follow_the_key_material():
    a = keys.secure_key_bits(_deriver(b"\x00" * 32), 256, 256)
    again = keys.secure_key_bits(_deriver(b"\x00" * 32), 256, 256)
    one_bit = keys.secure_key_bits(_deriver(b"\x01" + b"\x00" * 31), 256, 256)
    assert np.array_equal(a, again)
    # one bit of key material flips about half of the map
    assert 0.45 < np.mean(a != one_bit) < 0.55


def test_secure_mode_without_key_material_is_a_clear_error():
    with pytest.raises(KeyMaterialError):
        keys.secure_key_bits(None, 256, 256)


def test_key_tensor_shape():
    t = keys.key_tensor([keys.compat_key_bits("x", 8, 8), keys.compat_key_bits("y", 8, 8)])
    assert tuple(t.shape) == (2, 1, 8, 8)
    assert set(t.unique().tolist()) == {-1.0, 1.0}
