"""The one rule for passphrases that come from a file or the environment.

The same passphrase written to a password file (``echo pw > f`` adds ``\\n``; Windows editors add
``\\r\\n``) and put in ``FACEVEIL_PASSPHRASE`` must open the same files. So both go through
:func:`passphrase_from_bytes`: decode as strict UTF-8, remove exactly one trailing ``\\n`` or
``\\r\\n``, and nothing else — no other whitespace, no line splitting (``str.splitlines`` also splits
on U+2028, U+0085, form feeds..., which would silently cut a passphrase). Unicode normalization (NFC)
happens later, when the key is derived (``keys._passphrase_bytes``), for every source alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from faceveil.errors import KeyMaterialError

PASSPHRASE_ENV = "FACEVEIL_PASSPHRASE"
_MAX_PASSWORD_FILE_BYTES = 64 * 1024  # a passphrase, not a document: refuse to slurp a wrong path


def passphrase_from_bytes(data: bytes, source: str) -> str:
    """UTF-8 ``data`` minus exactly one trailing ``\\n`` / ``\\r\\n``. KeyMaterialError (exit 11)
    naming ``source`` if it is not UTF-8 or nothing is left."""
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise KeyMaterialError(
            f"{source} is not UTF-8 text (invalid byte at offset {exc.start}); save the passphrase as UTF-8"
        ) from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise KeyMaterialError(f"{source} is empty")
    return text


def read_password_file(path: str | os.PathLike) -> str:
    """The passphrase stored in a password file (see :func:`passphrase_from_bytes`)."""
    path = Path(path)
    source = f"password file {path}"
    try:
        if path.is_dir():
            raise KeyMaterialError(f"{source} is a directory")
        with path.open("rb") as handle:
            data = handle.read(_MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > _MAX_PASSWORD_FILE_BYTES:
        raise KeyMaterialError(f"{source} is larger than {_MAX_PASSWORD_FILE_BYTES} bytes; is it the right file?")
    return passphrase_from_bytes(data, source)


def passphrase_from_environment(name: str = PASSPHRASE_ENV, environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase in environment variable ``name`` (same rule as a file), or None if it is unset
    or empty (an empty variable means "not set", so the caller can prompt instead)."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        return None
    # os.environ decodes undecodable bytes as lone surrogates; turning them back into the original
    # bytes lets the strict UTF-8 check report them instead of passing garbage to the KDF.
    try:
        data = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raise KeyMaterialError(f"${name} is not valid Unicode text") from None
    return passphrase_from_bytes(data, f"${name}")
