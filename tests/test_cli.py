"""End-to-end: the `faceveil` CLI on real package-shipped faces (in-process via cli.main, plus one real
subprocess to prove the installed entry point exits cleanly)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import (
    InputError,
    OutputExistsError,
    PayloadCorruptError,
    PayloadMissingError,
    TamperedPixelsError,
    WrongKeyError,
)
from faceveil.io.carriers import extract_payload


def run(*args: str) -> int:
    return main([str(a) for a in args])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def png_with_payload(png: bytes, payload: bytes) -> bytes:
    """Rewrite the fvIL chunk of a PNG with a different payload (valid CRC), keeping everything else."""
    out, pos = bytearray(png[:8]), 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        ctype = png[pos + 4 : pos + 8]
        chunk = png[pos : pos + 12 + length]
        if ctype == b"fvIL":
            chunk = struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))
        out += chunk
        pos += 12 + length
    return bytes(out)


@pytest.fixture
def anonymized(tmp_path, astronaut_png, passphrase):
    out = tmp_path / "out.png"
    assert run("anonymize", astronaut_png, "-o", out) == 0
    return out


def test_png_round_trip_is_bit_exact(tmp_path, astronaut_png, anonymized, astronaut):
    anon = pixels(anonymized)
    assert anon.shape == astronaut.shape
    assert np.any(anon != astronaut)
    back = tmp_path / "back.png"
    assert run("recover", anonymized, "-o", back) == 0
    assert np.array_equal(pixels(back), astronaut)


def test_default_method_defeats_the_dlib_recognizer(anonymized, astronaut):
    from faceveil.analysis.dlib_models import DlibRecognizer
    from faceveil.faces.detect import create_detector

    (face,) = create_detector("centerface").detect(astronaut)
    # Measured at the original face position: the anonymized face may no longer be detectable at all.
    distance = DlibRecognizer().distance(astronaut, face, pixels(anonymized), face)
    assert distance > 0.6


def test_wrong_passphrase_is_rejected_without_output(tmp_path, anonymized, monkeypatch):
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "not the passphrase")
    back = tmp_path / "back.png"
    assert run("recover", anonymized, "-o", back) == WrongKeyError.exit_code
    assert not back.exists()


def test_flipped_anonymized_pixel_is_rejected(tmp_path, anonymized):
    data = anonymized.read_bytes()
    img = pixels(anonymized)
    img[0, 0, 0] ^= 1
    buf = tmp_path / "tampered.png"
    Image.fromarray(img).save(buf)
    payload = extract_payload(data)
    from faceveil.io.carriers import embed_payload

    buf.write_bytes(embed_payload(buf.read_bytes(), payload))
    assert run("recover", buf, "-o", tmp_path / "back.png") == TamperedPixelsError.exit_code
    assert not (tmp_path / "back.png").exists()


def test_flipped_payload_bytes_are_rejected(tmp_path, anonymized):
    data = anonymized.read_bytes()
    payload = extract_payload(data)
    rng = np.random.default_rng(0)
    positions = sorted({0, 7, len(payload) // 2, len(payload) - 1, *rng.integers(0, len(payload), 12).tolist()})
    for pos in positions:
        bad = bytearray(payload)
        bad[pos] ^= 0x01
        f = tmp_path / f"bad{pos}.png"
        f.write_bytes(png_with_payload(data, bytes(bad)))
        code = run("recover", f, "-o", tmp_path / f"back{pos}.png")
        assert code != 0, f"flipped byte {pos} was accepted"
        assert not (tmp_path / f"back{pos}.png").exists()


def test_truncated_payload_and_missing_sidecar(tmp_path, astronaut_png, passphrase):
    out = tmp_path / "side.png"
    assert run("anonymize", astronaut_png, "-o", out, "--payload", "sidecar") == 0
    side = Path(str(out) + ".faceveil")
    assert side.exists() and extract_payload(out.read_bytes()) is None
    blob = side.read_bytes()
    side.write_bytes(blob[: len(blob) // 2])
    assert run("recover", out, "-o", tmp_path / "a.png") == PayloadCorruptError.exit_code
    side.unlink()
    assert run("recover", out, "-o", tmp_path / "b.png") == PayloadMissingError.exit_code
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_public_key_mode(tmp_path, astronaut_png, astronaut, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    key = tmp_path / "me.key"
    assert run("keygen", key) == 0
    assert (key.stat().st_mode & 0o777) == 0o600
    out = tmp_path / "out.png"
    # only the public key on the anonymizing side; no passphrase is asked for
    assert run("anonymize", astronaut_png, "-o", out, "--recipient", f"{key}.pub") == 0
    other = tmp_path / "other.key"
    assert run("keygen", other) == 0
    assert run("recover", out, "-o", tmp_path / "x.png", "--key", other) == WrongKeyError.exit_code
    assert run("recover", out, "-o", tmp_path / "back.png", "--key", key) == 0
    assert np.array_equal(pixels(tmp_path / "back.png"), astronaut)


def test_jpeg_output_restores_face_regions_exactly(tmp_path, hopper_jpg, grace_hopper, passphrase):
    out = tmp_path / "out.jpg"
    assert run("anonymize", hopper_jpg, "-o", out) == 0
    back = tmp_path / "back.png"
    assert run("recover", out, "-o", back) == 0
    from faceveil.api import inspect

    info = inspect(out)
    assert info["face_count"] >= 1
    restored = pixels(back)
    for face in info["faces"]:
        x, y, w, h = face["rect"]
        assert np.array_equal(restored[y : y + h, x : x + w], grace_hopper[y : y + h, x : x + w])


def test_gps_metadata_is_stripped_and_restored_on_recovery(tmp_path, astronaut, passphrase):
    src = tmp_path / "gps.jpg"
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS IFD
    Image.fromarray(astronaut).save(src, exif=exif, quality=95)
    out = tmp_path / "out.jpg"
    assert run("anonymize", src, "-o", out) == 0
    with Image.open(out) as im:
        assert not im.getexif().get_ifd(0x8825)
        assert "exif" not in im.info
    back = tmp_path / "back.jpg"
    assert run("recover", out, "-o", back) == 0
    with Image.open(back) as im:  # the key holder gets the original metadata back
        assert im.getexif().get_ifd(0x8825)


def test_inspect_needs_no_key(anonymized, monkeypatch, capsys):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    assert run("inspect", anonymized, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "mosaic" and info["face_count"] == 1
    assert info["recipients"][0]["type"] == "passphrase"
    assert info["pixels_match_payload"] is True


def test_batch_folder_continues_after_a_bad_file_and_reports_json(tmp_path, astronaut, passphrase, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(astronaut).save(src / "a.png")
    Image.fromarray(astronaut[:, ::-1]).save(src / "sub" / "b.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code = run("anonymize", src, "-o", tmp_path / "out", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert code == InputError.exit_code
    assert summary["ok"] == 2 and summary["failed"] == 1
    assert (tmp_path / "out" / "a.png").exists() and (tmp_path / "out" / "sub" / "b.png").exists()
    assert not (tmp_path / "out" / "broken.png").exists()


def test_never_overwrites_inputs_or_existing_outputs(tmp_path, astronaut_png, passphrase):
    before = astronaut_png.read_bytes()
    assert run("anonymize", astronaut_png, "-o", astronaut_png, "--overwrite") == OutputExistsError.exit_code
    assert astronaut_png.read_bytes() == before
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert run("anonymize", astronaut_png, "-o", out) == OutputExistsError.exit_code
    assert out.read_bytes() == b"keep me"
    assert run("anonymize", astronaut_png, "-o", out, "--overwrite") == 0
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_gray_and_alpha_round_trip(tmp_path, astronaut, passphrase, mode):
    img = Image.fromarray(astronaut).convert(mode)
    if mode == "RGBA":
        alpha = np.full(astronaut.shape[:2], 255, np.uint8)
        alpha[:, :40] = 0
        img.putalpha(Image.fromarray(alpha))
    src = tmp_path / "in.png"
    img.save(src)
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    assert run("anonymize", src, "-o", out) == 0
    assert pixels(out).shape == pixels(src).shape
    if mode == "RGBA":
        assert np.array_equal(pixels(out)[..., 3], pixels(src)[..., 3])  # alpha untouched
    assert run("recover", out, "-o", back) == 0
    assert np.array_equal(pixels(back), pixels(src))


def test_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    exe = Path(sys.executable).with_name("faceveil")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "faceveil"]
    proc = subprocess.run([*cmd, "anonymize", str(bad), "--payload", "none", "-o", str(tmp_path / "o.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == InputError.exit_code
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o.png").exists()


def test_missing_key_material_is_a_clear_error(astronaut_png, tmp_path, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert run("anonymize", astronaut_png, "-o", tmp_path / "o.png") == 11
    assert not (tmp_path / "o.png").exists()


def test_help_everywhere():
    for cmd in ([], ["anonymize"], ["recover"], ["inspect"], ["keygen"], ["models"], ["eval"], ["train"],
                ["train", "proface-s"], ["train", "g2face"]):
        assert run(*cmd, "--help") == 0


def test_video_round_trip_through_the_cli(tmp_path, passphrase):
    from faceveil.io.video import iter_frames
    from faceveil.testing import write_synthetic_clip

    clip = tmp_path / "clip.mp4"
    write_synthetic_clip(clip, seconds=0.4)
    out, back = tmp_path / "out.mkv", tmp_path / "back.mkv"
    assert run("anonymize", clip, "-o", out, "--lossless") == 0
    assert run("recover", out, "-o", back, "--from-pixels") == InputError.exit_code  # photos only
    assert run("recover", out, "-o", back) == 0
    assert (back.stat().st_mode & 0o777) == 0o600  # the recovered original is owner-only (issue 12 #6)
    original = [f.rgb for f in iter_frames(clip)]
    anonymized = [f.rgb for f in iter_frames(out)]
    recovered = [f.rgb for f in iter_frames(back)]
    assert len(original) == len(anonymized) == len(recovered)
    assert all(np.array_equal(a, b) for a, b in zip(original, recovered))
    assert all(not np.array_equal(a, b) for a, b in zip(original, anonymized))


def test_proface_s_photo_recovers_from_the_pixels_alone(tmp_path, astronaut_png, astronaut, passphrase):
    out, back, exact = tmp_path / "pfs.png", tmp_path / "back.png", tmp_path / "exact.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "--obfuscation", "blur") == 0
    from faceveil.api import inspect

    x, y, w, h = inspect(out)["faces"][0]["rect"]
    region = (slice(y, y + h), slice(x, x + w))

    def psnr(a, b):
        return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))

    assert psnr(pixels(out)[region], astronaut[region]) < 22  # the face is hidden behind the blur
    assert run("recover", out, "-o", back, "--from-pixels") == 0
    assert psnr(pixels(back)[region], astronaut[region]) > 32  # the network's recovery, from pixels alone (37.6 dB)
    assert run("recover", out, "-o", exact) == 0
    assert np.array_equal(pixels(exact), astronaut)  # the encrypted container still gives the exact original


def test_proface_s_refuses_a_cover_its_weights_were_not_trained_on(tmp_path, astronaut_png, passphrase, capsys):
    from faceveil.methods.proface_s.checkpoint import save_weights
    from faceveil.methods.proface_s.model import ProFaceS

    weights = tmp_path / "blur_only.pt"
    save_weights(ProFaceS(), weights, meta={"config": {"obfuscation": "blur,median,pixelate"}})
    out = tmp_path / "masked.png"
    code = run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "--obfuscation", "mask", "-O", f"weights={weights}")
    assert code == 3 and not out.exists()
    assert "would leave the face visible" in capsys.readouterr().err


def test_from_pixels_recovery_with_non_default_weights(tmp_path, astronaut_png, astronaut, passphrase, capsys):
    from faceveil.methods.proface_s import SHIPPED_WEIGHTS
    from faceveil.methods.proface_s.checkpoint import load_proface_s, save_weights

    weights = tmp_path / "mine.pt"  # the shipped network under another file (another sha256)
    save_weights(load_proface_s(SHIPPED_WEIGHTS), weights, meta={"config": {"obfuscation": "blur"}})
    out, back = tmp_path / "pfs.png", tmp_path / "back.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "-O", f"weights={weights}") == 0
    assert run("recover", out, "-o", back, "--from-pixels") == 3  # recorded sha256 != the shipped file's
    assert "pass the same weights" in capsys.readouterr().err and not back.exists()
    assert run("recover", out, "-o", back, "--from-pixels", "-O", f"weights={weights}") == 0
    x, y, w, h = __import__("faceveil.api", fromlist=["inspect"]).inspect(out)["faces"][0]["rect"]
    diff = pixels(back)[y : y + h, x : x + w].astype(float) - astronaut[y : y + h, x : x + w].astype(float)
    assert 10 * np.log10(255.0**2 / np.mean(diff**2)) > 28
    assert run("recover", out, "-o", tmp_path / "exact.png", "-O", f"weights={weights}") == 2  # -O is for --from-pixels: usage (issue 12 #14)


def test_password_file_and_environment_follow_one_rule(tmp_path, astronaut_png, astronaut, monkeypatch):
    """Issue 12 #13: the same passphrase written to a file (with its line end) and put in the
    environment opens the same file; U+2028 no longer cuts it; a non-UTF-8 file is exit 11."""
    from faceveil.errors import KeyMaterialError

    passphrase = "horse\u2028battery staple"
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", passphrase)
    out = tmp_path / "out.png"
    assert run("anonymize", astronaut_png, "-o", out) == 0
    monkeypatch.delenv("FACEVEIL_PASSPHRASE")
    for i, ending in enumerate(["\n", "\r\n", ""]):
        pw_file = tmp_path / f"pw{i}.txt"
        pw_file.write_bytes((passphrase + ending).encode("utf-8"))
        assert run("recover", out, "-o", tmp_path / f"back{i}.png", "--password-file", pw_file) == 0
        assert np.array_equal(pixels(tmp_path / f"back{i}.png"), astronaut)
    first_line_only = tmp_path / "cut.txt"
    first_line_only.write_bytes("horse\n".encode("utf-8"))
    assert run("recover", out, "-o", tmp_path / "x.png", "--password-file", first_line_only) == WrongKeyError.exit_code
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    assert run("recover", out, "-o", tmp_path / "y.png", "--password-file", latin1) == KeyMaterialError.exit_code
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_recovered_originals_are_owner_only(tmp_path, anonymized, astronaut):
    """Issue 12 #6: the recovered file holds the faces the anonymization hid: 0600, even over a 0644 file."""
    import os

    previous = os.umask(0o022)
    try:
        back = tmp_path / "back.png"
        assert run("recover", anonymized, "-o", back) == 0
        assert (back.stat().st_mode & 0o777) == 0o600
        assert (anonymized.stat().st_mode & 0o777) == 0o644  # anonymized outputs stay shareable
        back.chmod(0o644)
        assert run("recover", anonymized, "-o", back, "--overwrite") == 0
        assert (back.stat().st_mode & 0o777) == 0o600
        assert np.array_equal(pixels(back), astronaut)
    finally:
        os.umask(previous)


def test_recover_to_jpeg_says_the_regions_are_re_encoded(tmp_path, astronaut_png, passphrase, capsys):
    """Issue 12 #11: recovering into JPEG must not claim exact face regions (JPEG re-encodes them).
    A PNG source's payload holds its face regions (smaller than the file); a JPEG source's payload
    holds the file itself and recovers it byte for byte (tests/test_photo_source_coding.py)."""
    out = tmp_path / "out.jpg"
    assert run("anonymize", astronaut_png, "-o", out) == 0
    capsys.readouterr()
    assert run("recover", out, "-o", tmp_path / "back.jpg") == 0
    to_jpeg = capsys.readouterr().err
    assert "re-encodes the restored face regions" in to_jpeg and "PNG" in to_jpeg
    assert "restored exactly" not in to_jpeg
    assert run("recover", out, "-o", tmp_path / "back.png") == 0
    to_png = capsys.readouterr().err
    assert "face regions are the exact originals" in to_png and "re-encodes" not in to_png


def test_protected_key_file_is_argon2id_and_opens_with_its_passphrase(tmp_path, astronaut_png, astronaut, monkeypatch):
    """Issue 12 #3: `keygen --protect` writes the documented Argon2id key file, not PKCS#8 PBKDF2."""
    from faceveil.errors import KeyMaterialError

    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    key_pw = tmp_path / "key-pw.txt"
    key_pw.write_text("key file secret\n", encoding="utf-8")
    key = tmp_path / "me.key"
    assert run("keygen", key, "--protect", "--password-file", key_pw) == 0
    text = key.read_text()
    assert text.startswith("-----BEGIN FACEVEIL ENCRYPTED PRIVATE KEY-----") and (key.stat().st_mode & 0o777) == 0o600
    out = tmp_path / "out.png"
    assert run("anonymize", astronaut_png, "-o", out, "--recipient", f"{key}.pub") == 0
    assert run("recover", out, "-o", tmp_path / "x.png", "--key", key) == KeyMaterialError.exit_code  # no passphrase
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n", encoding="utf-8")
    assert run("recover", out, "-o", tmp_path / "x.png", "--key", key, "--key-password-file", wrong) == KeyMaterialError.exit_code
    assert run("recover", out, "-o", tmp_path / "back.png", "--key", key, "--key-password-file", key_pw) == 0
    assert np.array_equal(pixels(tmp_path / "back.png"), astronaut)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, passphrase):
    """Issue 12 #4: a 196 Mpx PNG of a few hundred bytes is exit 13 in well under a second."""
    import time

    ihdr = struct.pack(">IIBBBBB", 14_000, 14_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b""))
    started = time.perf_counter()
    assert run("anonymize", bomb, "-o", tmp_path / "out.png") == 13
    assert run("inspect", bomb) == 13
    assert time.perf_counter() - started < 5
    assert not (tmp_path / "out.png").exists()


def test_hostile_kdf_cost_and_extra_passphrase_stanzas_are_refused_fast(tmp_path, anonymized):
    """Issue 12 #4, the audit's repro: a payload whose passphrase stanza asks for t=4, m=2 GiB (valid
    per format, checksum recomputed) is exit 13 before any Argon2id run; 4 stanzas are exit 5."""
    import time

    from tests.crypto.conftest import join_container, split_container

    version, header, body = split_container(extract_payload(anonymized.read_bytes()))
    (stanza,) = header["recipients"]
    costly = stanza | {"time_cost": 4, "memory_kib": 2 * 1024 * 1024, "parallelism": 4}
    cases = {"costly.png": ([costly], 13), "four.png": ([costly] * 4, PayloadCorruptError.exit_code)}
    for name, (recipients, code) in cases.items():
        hostile = tmp_path / name
        hostile.write_bytes(png_with_payload(anonymized.read_bytes(), join_container(version, header | {"recipients": recipients}, body)))
        started = time.perf_counter()
        assert run("recover", hostile, "-o", tmp_path / f"back-{name}") == code
        assert time.perf_counter() - started < 2
