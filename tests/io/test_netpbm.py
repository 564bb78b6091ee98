"""Issue 25 #5: Netpbm photos (.ppm colour, .pgm gray, .pnm either; binary P5/P6 and plain P2/P3), common in
vision datasets, are anonymized and recovered exactly like the other lossless formats, the payload in a
sidecar (Netpbm has no place for it)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.io.carriers import detect_format, sidecar_path
from faceveil.io.images import decode_image, encode_image


def _plain(pixels: np.ndarray) -> bytes:
    """Plain (ASCII) P3/P2 file of uint8 pixels: Pillow writes only the binary forms."""
    h, w, c = pixels.shape
    magic = b"P3" if c == 3 else b"P2"
    body = " ".join(str(v) for v in pixels.reshape(-1)).encode()
    return magic + f"\n# a comment\n{w} {h}\n255\n".encode() + body + b"\n"


@pytest.mark.parametrize("name, channels, plain", [
    ("face.ppm", 3, False),
    ("face.pgm", 1, False),
    ("face.pnm", 3, True),
    ("face.pgm", 1, True),
])
def test_netpbm_photo_round_trips_exactly_through_the_cli(tmp_path, astronaut, passphrase, name, channels, plain):
    pixels = astronaut if channels == 3 else np.asarray(Image.fromarray(astronaut).convert("L"))[..., None]
    src = tmp_path / name
    if plain:
        src.write_bytes(_plain(pixels))
    else:
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(src)
    assert np.array_equal(decode_image(src.read_bytes()).pixels, pixels)  # the reader sees what we wrote
    out, back = tmp_path / f"out{src.suffix}", tmp_path / f"back{src.suffix}"
    assert main(["anonymize", str(src), "-o", str(out), "-q"]) == 0
    assert sidecar_path(out).exists() and detect_format(out.read_bytes()) == "PPM"
    anonymized = decode_image(out.read_bytes()).pixels
    assert anonymized.shape == pixels.shape and not np.array_equal(anonymized, pixels)  # the face changed
    assert main(["recover", str(out), "-o", str(back), "-q"]) == 0
    assert np.array_equal(decode_image(back.read_bytes()).pixels, pixels)


def test_netpbm_as_an_output_format_and_its_limits(tmp_path, astronaut, passphrase, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    assert main(["anonymize", str(src), "-f", "ppm", "-o", str(tmp_path / "a.ppm"), "-q"]) == 0
    assert main(["recover", str(tmp_path / "a.ppm"), "-f", "pgm", "-o", str(tmp_path / "b.pgm"), "-q"]) == 0
    assert np.array_equal(decode_image((tmp_path / "b.pgm").read_bytes()).pixels, astronaut)  # RGB kept (P6 bytes)
    with pytest.raises(Exception, match="alpha"):
        encode_image(np.zeros((4, 4, 4), np.uint8), "PPM")  # no silent loss of transparency
    wide = tmp_path / "wide.pgm"
    wide.write_bytes(b"P5\n2 2\n65535\n" + b"\x01\x00" * 4)  # 16-bit samples: refused, not truncated
    capsys.readouterr()
    assert main(["anonymize", str(wide), "-o", str(tmp_path / "w.pgm")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("faceveil: ") and len(err.splitlines()) == 1 and "16-bit" in err, err
