"""Where the recovery payload goes and where it is found again, for photos and videos.

One :data:`PayloadMode` and one default for every file type:

- ``embedded``: inside the file (PNG/JPEG/WebP chunk; Matroska attachment for video); formats that
  cannot carry one get a sidecar instead, and the report says so;
- ``sidecar``: ``<output>.fvpayload``-style file beside the output (faceveil.io.carriers.sidecar_path);
- ``both``: embedded (where possible) and a sidecar;
- ``none``: no payload at all (irreversible).

Lookup order when recovering: an explicit payload file, then the embedded payload, then the sidecar.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from faceveil.errors import PayloadMissingError, UsageError
from faceveil.io.carriers import extract_payload, sidecar_path, supports_embedding

PayloadMode = Literal["embedded", "sidecar", "both", "none"]
PAYLOAD_MODES: tuple[str, ...] = ("embedded", "sidecar", "both", "none")
DEFAULT_PAYLOAD: PayloadMode = "embedded"

ATTACHMENT_NAME = "faceveil-recovery.fvv"
# Matroska attachments live in the file header and are read into memory whole (by PyAV and by
# players), so long videos keep their payload in the sidecar instead.
MAX_ATTACHMENT_BYTES = 256 * 2**20


def check_payload_mode(mode: str, flag: str = "--payload") -> PayloadMode:
    if mode not in PAYLOAD_MODES:
        raise UsageError(f"{flag} must be one of {', '.join(PAYLOAD_MODES)}, got {mode!r}")
    return mode  # type: ignore[return-value]


def photo_places(mode: PayloadMode, fmt: str) -> tuple[bool, bool, str | None]:
    """(embed, write a sidecar, note) for a photo in image format ``fmt`` (e.g. "PNG")."""
    if mode == "none":
        return False, False, None
    embed = mode in ("embedded", "both") and supports_embedding(fmt)
    note = None
    if mode == "embedded" and not embed:
        note = f"{fmt} cannot carry an embedded payload: wrote a sidecar instead"
    return embed, mode in ("sidecar", "both") or not embed, note


def video_places(mode: PayloadMode, dst: Path) -> tuple[bool, bool]:
    """(embed as an MKV attachment, write a sidecar) for a video; only Matroska can embed."""
    from faceveil.io.video import supports_attachments

    if mode == "none":
        return False, False
    embed = mode in ("embedded", "both") and supports_attachments(dst)
    return embed, mode in ("sidecar", "both") or not embed


def _unreadable(path: Path, what: str, exc: OSError) -> PayloadMissingError:
    reason = "is a folder" if path.is_dir() else (exc.strerror or str(exc))
    return PayloadMissingError(f"{what} {path} cannot be read: {reason}")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def _open(path: Path, what: str) -> BinaryIO:
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller's with-block closes it
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def find_photo_payload(path: Path, data: bytes, payload_file: Path | None = None) -> tuple[bytes, str]:
    """The recovery payload for an image: an explicit file, else embedded, else the sidecar."""
    if payload_file is not None:
        if not payload_file.exists():
            raise PayloadMissingError(f"payload file {payload_file} does not exist")
        return _read(payload_file, "payload file"), str(payload_file)
    embedded = extract_payload(data)
    if embedded is not None:
        return embedded, "embedded"
    side = sidecar_path(path)
    if side.exists():
        return _read(side, "sidecar"), str(side)
    raise PayloadMissingError(f"{path}: no recovery payload (none embedded, and sidecar {side} is missing)")


@contextlib.contextmanager
def video_payload_source(src: Path, payload_file: Path | None) -> Iterator[tuple[BinaryIO, str]]:
    """Yield (binary stream, where) for a video's payload: explicit file, MKV attachment, then sidecar."""
    from faceveil.io.video import read_attachment

    if payload_file is not None:
        if not payload_file.exists():
            raise PayloadMissingError(f"payload file {payload_file} does not exist")
        with _open(payload_file, "payload file") as f:
            yield f, str(payload_file)
        return
    attached = read_attachment(src, ATTACHMENT_NAME)
    if attached is not None:
        yield io.BytesIO(attached), "embedded"
        return
    side = sidecar_path(src)
    if side.exists():
        with _open(side, "sidecar") as f:
            yield f, str(side)
        return
    raise PayloadMissingError(f"{src}: no recovery payload (no {ATTACHMENT_NAME} attachment, and sidecar {side} is missing)")


def carries_payload(path: Path) -> str | None:
    """Where ``path`` already carries a faceveil recovery payload ("embedded" or the sidecar's path),
    or None: such a file is an anonymized output, and anonymizing it again is almost always a
    re-run over a folder that now holds outputs too (issue 12 #16)."""
    from faceveil.errors import FaceveilError
    from faceveil.io.suffixes import VIDEO_SUFFIXES

    side = sidecar_path(path)
    if side.exists():
        return str(side)
    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            from faceveil.io.video import read_attachment

            return "embedded" if read_attachment(path, ATTACHMENT_NAME) is not None else None
        data = path.read_bytes()
        if extract_payload(data) is not None:
            return "embedded"
        from faceveil.io.images import decode_image, format_for_path
        from faceveil.pipeline.pixel_only import LOSSLESS_FORMATS

        if format_for_path(path) in LOSSLESS_FORMATS:  # pixel-only outputs carry a locator in the pixels
            from faceveil.crypto.pixel_locator import has_locator

            if has_locator(decode_image(data, name=path.name).pixels):
                return "pixel-only locator"
        return None
    except (FaceveilError, OSError, MemoryError):  # unreadable or corrupt: processing reports it
        return None

