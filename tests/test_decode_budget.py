"""The decode limit counts bytes (issue 22 #4): a 119 Mpx grey PNG (under the 120 Mpx pixel cap) took
44-110 s and 4.4 GB; now it is refused from its header, with exit 13, before any decoding."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import zlib

import pytest

from faceveil.errors import LimitExceededError
from faceveil.io.images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS, decode_budget, decode_bytes, decode_image


def png_header(width: int, height: int, colour_type: int) -> bytes:
    """A PNG whose IHDR claims width x height (colour type 0 grey, 2 RGB, 6 RGBA) with a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + chunk(b"IEND", b""))


def test_the_budget_counts_channels_and_working_copies():
    assert decode_bytes(1000, 1000, 1) == 1000 * 1000 * (1 + 9)
    assert decode_bytes(1000, 1000, 3) == 1000 * 1000 * (3 + 9)
    assert decode_budget(DEFAULT_MAX_PIXELS) == DEFAULT_MAX_DECODE_BYTES == 1 << 30
    assert decode_budget(5_000) == decode_bytes(5_000, 1, 4)  # a limit the caller set decides in pixels


@pytest.mark.parametrize("colour_type, side", [(0, 10_900), (2, 9_600), (6, 9_200)])
def test_images_under_the_pixel_cap_but_over_the_byte_budget_are_refused_from_the_header(colour_type, side):
    assert side * side < DEFAULT_MAX_PIXELS
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match=r"big.png: image is .*above the decode budget of 1,024 MiB.*--max-pixels"):
        decode_image(png_header(side, side, colour_type), name="big.png")
    assert time.perf_counter() - started < 1.0


def test_cli_refuses_the_119_mpx_grey_png_with_exit_13_within_seconds(tmp_path):
    path = tmp_path / "grey.png"
    path.write_bytes(png_header(10_900, 10_900, 0))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "faceveil", "anonymize", str(path), "-o", str(tmp_path / "o.png")],
                          capture_output=True, text=True, env={"FACEVEIL_PASSPHRASE": "pw", "PATH": "/usr/bin:/bin",
                                                               **{k: v for k, v in __import__("os").environ.items()
                                                                  if k in ("PYTHONPATH", "HOME", "OMP_NUM_THREADS")}})
    assert done.returncode == 13, done.stderr
    assert done.stderr.count("\n") == 1 and "decode budget" in done.stderr
    assert time.perf_counter() - started < 30  # interpreter start-up included; the refusal itself takes ms
    assert not (tmp_path / "o.png").exists()
