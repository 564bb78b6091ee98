"""A photo's payload never holds more than the input file (docs/format.md, container version 2): when
the input's own bytes are smaller than its face regions coded as lossless pixels (a JPEG, usually), the
payload stores the file and recovery returns it byte for byte. JPEG outputs reuse a JPEG input's
quantization tables (matched quality) unless a quality is given."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import faceveil
from faceveil.crypto import Argon2Params
from faceveil.pipeline.options import OutputOptions

PW = "correct horse battery staple"
FAST = Argon2Params(time_cost=1, memory_kib=64 * 1024, parallelism=1)  # the minimum allowed
KEYS = faceveil.KeyOptions(passphrase=PW, argon2_params=FAST)
HEADER_ALLOWANCE = 2048  # clear header (faces, recipient stanza) + checksum + tag around the stored file


def test_jpeg_recovers_byte_for_byte_and_payload_is_the_file(tmp_path, hopper_jpg):
    out = tmp_path / "out.jpg"
    [report] = faceveil.anonymize(hopper_jpg, out, keys=KEYS)
    assert report.ok and len(report.faces) == 1
    size = hopper_jpg.stat().st_size
    info = faceveil.inspect(out)
    assert info["original_file"] == {"format": "JPEG", "bytes": size}
    assert info["format_version"] == 2 and info["regions"] == 0
    assert size < info["payload_bytes"] <= size + HEADER_ALLOWANCE
    assert any("byte for byte" in n for n in report.notes)

    back = tmp_path / "back.jpg"
    [rec] = faceveil.recover(out, back, passphrase=PW)
    assert rec.ok and back.read_bytes() == hopper_jpg.read_bytes()
    assert any("byte for byte" in n for n in rec.notes)

    # another format: the original's exact pixels, re-encoded (and said so)
    png = tmp_path / "back.png"
    [rec_png] = faceveil.recover(out, png, passphrase=PW)
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(hopper_jpg)))
    assert any("re-encoded" in n for n in rec_png.notes)


def test_cli_inspect_and_recover_say_byte_for_byte(tmp_path, hopper_jpg, monkeypatch, capsys):
    from faceveil.cli import main

    monkeypatch.setenv("FACEVEIL_PASSPHRASE", PW)
    out, back = tmp_path / "o.jpg", tmp_path / "b.jpg"
    assert main(["anonymize", str(hopper_jpg), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert f"holds the original JPEG file ({hopper_jpg.stat().st_size} bytes): recovery returns it byte for byte" in capsys.readouterr().out
    assert main(["recover", str(out), "-o", str(back)]) == 0
    assert "recovered the original file byte for byte" in capsys.readouterr().err
    assert back.read_bytes() == hopper_jpg.read_bytes()


def test_jpeg_output_matches_input_quality(tmp_path, hopper_jpg):
    out, q95 = tmp_path / "m.jpg", tmp_path / "q95.jpg"
    faceveil.anonymize(hopper_jpg, out, output_options=OutputOptions(payload="none"))
    faceveil.anonymize(hopper_jpg, q95, output_options=OutputOptions(payload="none", quality=95))
    src = Image.open(hopper_jpg)
    assert Image.open(out).quantization == src.quantization
    assert Image.open(q95).quantization != src.quantization
    # the matched output (one face hidden) is no larger than the input; quality 95 is
    assert out.stat().st_size <= hopper_jpg.stat().st_size < q95.stat().st_size


def test_png_keeps_region_coding_when_smaller(tmp_path, astronaut_png):
    out = tmp_path / "out.png"
    faceveil.anonymize(astronaut_png, out, keys=KEYS)
    info = faceveil.inspect(out)
    assert info["original_file"] is None and info["format_version"] == 1 and info["regions"] >= 1
    assert info["payload_bytes"] < astronaut_png.stat().st_size
    back = tmp_path / "back.png"
    faceveil.recover(out, back, passphrase=PW)
    assert np.array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(astronaut_png)))


@pytest.mark.parametrize("name", ["multi_face.jpg", "group1.jpg"])
def test_real_photos_payload_within_file_plus_header(tmp_path, name):
    from pathlib import Path

    src = Path.home() / ".cache" / "faceveil-dev-faces" / name
    if not src.exists():
        pytest.skip("dev faces not extracted (../shared/data/dev-faces.sh)")
    out = tmp_path / ("o_" + name)
    faceveil.anonymize(src, out, keys=KEYS)
    info = faceveil.inspect(out)
    assert info["payload_bytes"] <= src.stat().st_size + HEADER_ALLOWANCE
    back = tmp_path / ("b_" + name)
    faceveil.recover(out, back, passphrase=PW)
    assert back.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("quality", [35, 60, 75, 90, 97])
def test_jpeg_quality_is_estimated_from_the_tables(astronaut, quality):
    import io

    from faceveil.io.images import decode_image

    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, "JPEG", quality=quality)
    loaded = decode_image(buffer.getvalue())
    assert loaded.jpeg is not None and loaded.jpeg.quality == quality and loaded.jpeg.subsampling == 2
