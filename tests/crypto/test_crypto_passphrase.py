"""One passphrase rule for password files and $FACEVEIL_PASSPHRASE (crypto/passphrase.py)."""

from __future__ import annotations

import pytest

from faceveil.crypto.passphrase import passphrase_from_bytes, passphrase_from_environment, read_password_file
from faceveil.errors import KeyMaterialError

PW = "correct horse\u2028battery  staple "  # a line separator and spaces are part of the passphrase


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_file_and_environment_give_the_same_passphrase(tmp_path, ending):
    path = tmp_path / "pw.txt"
    path.write_bytes((PW + ending).encode("utf-8"))
    assert read_password_file(path) == PW
    assert passphrase_from_environment("PW_VAR", {"PW_VAR": PW + ending}) == PW


def test_exactly_one_line_end_is_stripped_and_nothing_else():
    assert passphrase_from_bytes(b"pw\n\n", "x") == "pw\n"
    assert passphrase_from_bytes(b"pw\r\n\r\n", "x") == "pw\r\n"
    assert passphrase_from_bytes(b"pw\r", "x") == "pw\r"
    assert passphrase_from_bytes(b" pw \t", "x") == " pw \t"
    assert passphrase_from_bytes(b"line one\nline two\n", "x") == "line one\nline two"
    assert passphrase_from_bytes("a\u2028b\x0cc\u0085".encode(), "x") == "a\u2028b\x0cc\u0085"


def test_non_utf8_and_empty_files_are_key_material_errors(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("mot de passe \xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(KeyMaterialError, match=r"latin1.txt is not UTF-8 text"):
        read_password_file(latin1)
    for content in (b"", b"\n", b"\r\n"):
        (tmp_path / "empty.txt").write_bytes(content)
        with pytest.raises(KeyMaterialError, match="is empty"):
            read_password_file(tmp_path / "empty.txt")
    with pytest.raises(KeyMaterialError, match="cannot read"):
        read_password_file(tmp_path / "missing.txt")
    with pytest.raises(KeyMaterialError, match="is a directory"):
        read_password_file(tmp_path)


def test_environment_unset_or_empty_is_none_and_undecodable_is_an_error():
    assert passphrase_from_environment("PW_VAR", {}) is None
    assert passphrase_from_environment("PW_VAR", {"PW_VAR": ""}) is None
    with pytest.raises(KeyMaterialError, match="is empty"):
        passphrase_from_environment("PW_VAR", {"PW_VAR": "\n"})
    # what os.environ holds for the raw bytes b"pw\xe9" (not UTF-8)
    undecodable = b"pw\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(KeyMaterialError, match=r"\$PW_VAR is not UTF-8"):
        passphrase_from_environment("PW_VAR", {"PW_VAR": undecodable})
