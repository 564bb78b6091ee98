"""Issue 12 #12: recovery restores every metadata segment anonymization stripped — JPEG comment,
IPTC (APP13), APP12; PNG tEXt/zTXt/iTXt/tIME (and pHYs) — through the public API on real photos."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import faceveil
from faceveil.errors import InputError
from faceveil.io.carriers import (
    insert_jpeg_metadata,
    insert_png_metadata,
    jpeg_metadata_segments,
    png_metadata_chunks,
)

PASSPHRASE = "correct horse battery staple"


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def _iptc_app13(caption: str) -> bytes:
    """A Photoshop APP13 with an IPTC-NAA resource holding a caption (2:120), as cameras/editors write it."""
    text = caption.encode("utf-8")
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(text)) + text
    resource = b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) % 2)
    return _segment(0xED, b"Photoshop 3.0\x00" + resource)


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment) of every header segment up to SOS."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack_from(">H", data, pos + 2)
        out.append((data[pos + 1], data[pos : pos + 2 + length]))
        pos += 2 + length
    return out


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((data[pos + 4 : pos + 8], data[pos : pos + 12 + length]))
        pos += 12 + length
    return out


@pytest.fixture
def tagged_jpeg(tmp_path, astronaut):
    """The astronaut as a camera-like JPEG with EXIF, a comment, IPTC (APP13) and APP12 (Ducky)."""
    plain = tmp_path / "plain.jpg"
    Image.fromarray(astronaut).save(plain, quality=95, comment=b"Jane Doe at the launch pad")
    data = plain.read_bytes()
    app0_end = 2 + 2 + struct.unpack_from(">H", data, 4)[0]
    extra = _iptc_app13("Jane Doe, astronaut") + _segment(0xEC, b"Ducky\x00\x01\x00\x04\x00\x00\x00\x5a\x00\x00")
    path = tmp_path / "tagged.jpg"
    path.write_bytes(data[:app0_end] + extra + data[app0_end:])
    return path


@pytest.fixture
def tagged_png(tmp_path, astronaut):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_text("Comment", "taken at the launch pad " * 20, zip=True)  # zTXt
    info.add_itxt("Description", "Astronautin \u00fcber der Erde", lang="de", tkey="Beschreibung")
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 17, 10, 30, 0))
    path = tmp_path / "tagged.png"
    Image.fromarray(astronaut).save(path, pnginfo=info, dpi=(300, 300))
    return path


def test_jpeg_comment_iptc_and_app12_come_back_on_recovery(tmp_path, tagged_jpeg):
    original = _jpeg_segments(tagged_jpeg.read_bytes())
    wanted = [seg for marker, seg in original if marker in (0xFE, 0xED, 0xEC)]
    assert [m for m, _ in original if m in (0xFE, 0xED, 0xEC)] == [0xED, 0xEC, 0xFE]  # APP13, APP12, COM
    out, back = tmp_path / "out.jpg", tmp_path / "back.jpg"
    faceveil.anonymize(tagged_jpeg, out, keys=faceveil.KeyOptions(passphrase=PASSPHRASE))
    anonymized = out.read_bytes()
    assert b"Jane Doe" not in anonymized  # stripped from what is shared
    assert not [m for m, _ in _jpeg_segments(anonymized) if m in (0xFE, 0xED, 0xEC)]
    (report,) = faceveil.recover(out, back, passphrase=PASSPHRASE)
    assert report.ok, report.error
    restored = [seg for marker, seg in _jpeg_segments(back.read_bytes()) if marker in (0xFE, 0xED, 0xEC)]
    assert restored == wanted  # byte for byte, in the original order
    with Image.open(back) as im:
        assert im.info["comment"] == b"Jane Doe at the launch pad"
        assert im.applist[0][0] == "APP0"  # still a well-formed JFIF file
        im.load()
    stripped = tmp_path / "stripped.jpg"
    faceveil.recover(out, stripped, passphrase=PASSPHRASE, keep_metadata=False)
    assert b"Jane Doe" not in stripped.read_bytes()


def test_png_text_time_and_resolution_chunks_come_back_on_recovery(tmp_path, tagged_png, astronaut):
    kinds = (b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs")
    wanted = [chunk for kind, chunk in _png_chunks(tagged_png.read_bytes()) if kind in kinds]
    assert sorted({kind for kind, _ in _png_chunks(tagged_png.read_bytes()) if kind in kinds}) == sorted(kinds)
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    faceveil.anonymize(tagged_png, out, keys=faceveil.KeyOptions(passphrase=PASSPHRASE))
    assert not [kind for kind, _ in _png_chunks(out.read_bytes()) if kind in kinds]
    assert b"Jane Doe" not in out.read_bytes()
    (report,) = faceveil.recover(out, back, passphrase=PASSPHRASE)
    assert report.ok, report.error
    restored = [chunk for kind, chunk in _png_chunks(back.read_bytes()) if kind in kinds]
    assert restored == wanted
    with Image.open(back) as im:
        assert im.text["Author"] == "Jane Doe" and im.text["Description"] == "Astronautin \u00fcber der Erde"
        assert round(im.info["dpi"][0]) == 300
        assert np.array_equal(np.asarray(im), astronaut)  # still bit-exact


def test_metadata_helpers_skip_what_is_modelled_and_refuse_malformed_runs(tagged_jpeg, tagged_png):
    jpeg = tagged_jpeg.read_bytes()
    segments = jpeg_metadata_segments(jpeg)
    assert segments.startswith(b"\xff\xed") and b"JFIF" not in segments  # APP0 is the encoder's business
    assert insert_jpeg_metadata(jpeg, segments).count(segments) == 2
    png = tagged_png.read_bytes()
    chunks = png_metadata_chunks(png)
    assert b"IHDR" not in chunks and b"IDAT" not in chunks
    for bad in (segments[:-1], segments + b"\xff\xdb\x00\x04ab", b"\xff\xe0\x00\x04ab"):  # cut, DQT, APP0
        with pytest.raises(InputError, match="malformed"):
            insert_jpeg_metadata(jpeg, bad)
    broken_crc = chunks[:-1] + bytes([chunks[-1] ^ 1])
    idat = struct.pack(">I", 1) + b"IDAT" + b"x" + struct.pack(">I", zlib.crc32(b"IDATx"))
    for bad in (chunks[:-3], broken_crc, idat):
        with pytest.raises(InputError, match="malformed"):
            insert_png_metadata(png, bad)


def test_jpeg_comment_and_iptc_survive_recovery_into_png(tmp_path, tagged_jpeg):
    """Recovering into PNG is what the JPEG note recommends (bit-exact regions): the comment becomes a
    tEXt "Comment" and the Photoshop/IPTC resources a "Raw profile type 8bim" zTXt (ImageMagick's form)."""
    app13 = next(seg for marker, seg in _jpeg_segments(tagged_jpeg.read_bytes()) if marker == 0xED)
    out, back = tmp_path / "out.jpg", tmp_path / "back.png"
    faceveil.anonymize(tagged_jpeg, out, keys=faceveil.KeyOptions(passphrase=PASSPHRASE))
    (report,) = faceveil.recover(out, back, passphrase=PASSPHRASE)
    assert report.ok, report.error
    with Image.open(back) as im:
        assert im.text["Comment"] == "Jane Doe at the launch pad"
        _, name, length, *hex_lines = im.text["Raw profile type 8bim"].split("\n")
    resources = bytes.fromhex("".join(hex_lines))
    assert name == "8bim" and int(length) == len(resources)
    assert resources == app13[4 + len(b"Photoshop 3.0\x00") :] and b"Jane Doe, astronaut" in resources
