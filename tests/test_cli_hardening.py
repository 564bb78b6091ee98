"""Issue 12 (hardening), the CLI-facing items: #1 no stray passphrase recipient, #5 inspect is unverified
without the key, #7 OS errors, #8 image + sidecar as a pair, #9 interrupts, #14 one exit-code contract,
#15 -o FILE with several inputs, #16 outputs are not anonymized again. Each runs the audit's repro."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import (
    InputError,
    KeyMaterialError,
    LimitExceededError,
    OutputExistsError,
    PayloadMissingError,
    TamperedPixelsError,
    UsageError,
    WrongKeyError,
)
from faceveil.io.carriers import sidecar_path


def run(*args) -> int:
    return main([str(a) for a in args])


def run_err(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = run(*args)
    return code, capsys.readouterr().err


@pytest.fixture
def anonymized(tmp_path, astronaut_png, passphrase):
    out = tmp_path / "out.png"
    assert run("anonymize", astronaut_png, "-o", out) == 0
    return out


# ------------------------------------------------------------------ #1 recipients


def test_recipient_run_ignores_the_passphrase_environment(tmp_path, astronaut_png, passphrase, capsys):
    key = tmp_path / "me.key"
    assert run("keygen", key) == 0
    out = tmp_path / "o.png"
    assert run("anonymize", astronaut_png, "-o", out, "-r", f"{key}.pub") == 0  # FACEVEIL_PASSPHRASE is set
    capsys.readouterr()
    assert run("inspect", out, "--json") == 0
    assert [r["type"] for r in json.loads(capsys.readouterr().out)["recipients"]] == ["x25519"]
    assert run("recover", out, "-o", tmp_path / "r.png") == WrongKeyError.exit_code  # the passphrase alone opens nothing
    # asked for explicitly, the passphrase recipient is added
    both = tmp_path / "both.png"
    assert run("anonymize", astronaut_png, "-o", both, "-r", f"{key}.pub", "--also-passphrase") == 0
    capsys.readouterr()
    assert run("inspect", both, "--json") == 0
    assert sorted(r["type"] for r in json.loads(capsys.readouterr().out)["recipients"]) == ["passphrase", "x25519"]
    assert run("recover", both, "-o", tmp_path / "r.png") == 0
    # a password file next to --recipient is a contradiction unless --also-passphrase says so
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    assert run("anonymize", astronaut_png, "-o", tmp_path / "x.png", "-r", f"{key}.pub", "--password-file", pw) == 2


# ------------------------------------------------------------------ #5 inspect


def test_inspect_says_unverified_and_verify_uses_the_key(tmp_path, anonymized, capsys, monkeypatch):
    code, _ = run_err(capsys, "inspect", anonymized)
    out = capsys.readouterr().out
    assert code == 0
    capsys.readouterr()
    run("inspect", anonymized)
    text = capsys.readouterr().out
    assert "not verified without the key" in text and "inspect --verify" in text
    run("inspect", anonymized, "--json")
    assert json.loads(capsys.readouterr().out)["verified"] is False

    assert run("inspect", anonymized, "--verify") == 0
    text = capsys.readouterr().out
    assert "verified with the key" in text and "not verified" not in text
    run("inspect", anonymized, "--verify", "--json")
    assert json.loads(capsys.readouterr().out)["verified"] is True

    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "wrong")
    assert run("inspect", anonymized, "--verify") == WrongKeyError.exit_code
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "correct horse battery staple")
    edited = tmp_path / "edited.png"
    from faceveil.io.carriers import embed_payload, extract_payload

    data = anonymized.read_bytes()
    with Image.open(anonymized) as im:
        px = np.asarray(im).copy()
    px[5, 5] ^= 1
    from io import BytesIO

    buf = BytesIO()
    Image.fromarray(px).save(buf, format="PNG")
    edited.write_bytes(embed_payload(buf.getvalue(), extract_payload(data)))
    assert run("inspect", edited, "--verify") == TamperedPixelsError.exit_code
    del out


# ------------------------------------------------------------------ #7 OS errors


def test_unreadable_file_in_a_recover_batch_does_not_stop_it(tmp_path, astronaut, passphrase, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(astronaut).save(folder / name)
    assert run("anonymize", folder, "-o", tmp_path / "anon") == 0
    bad = (tmp_path / "anon" / "a.png").resolve()
    real = Path.read_bytes

    def read_bytes(self):  # root reads any file, so permissions cannot make one unreadable here
        if self.resolve() == bad:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, err = run_err(capsys, "recover", tmp_path / "anon", "-o", tmp_path / "back")
    assert code == InputError.exit_code
    assert "Permission denied" in err and "internal error" not in err
    assert (tmp_path / "back" / "b.png").exists() and not (tmp_path / "back" / "a.png").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_unreadable_file_by_permissions(tmp_path, anonymized, capsys):
    anonymized.chmod(0)
    code, err = run_err(capsys, "recover", anonymized, "-o", tmp_path / "r.png")
    assert code == InputError.exit_code and "internal error" not in err


def test_os_errors_are_one_line_with_their_exit_code(tmp_path, anonymized, astronaut_png, passphrase, capsys):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    cases = [
        (["inspect", tmp_path], InputError.exit_code),
        (["recover", anonymized, "-o", tmp_path / "r1.png", "--payload-file", folder], PayloadMissingError.exit_code),
        (["inspect", anonymized, "--payload-file", folder], PayloadMissingError.exit_code),
        (["anonymize", astronaut_png, "-o", tmp_path / "x.png", "-O", "cells=abc"], UsageError.exit_code),
        (["keygen", ""], UsageError.exit_code),
        (["keygen", tmp_path], UsageError.exit_code),
    ]
    bad_pw = tmp_path / "bad.pw"
    bad_pw.write_bytes(b"\xff\xfepass\n")
    cases.append((["recover", anonymized, "-o", tmp_path / "r2.png", "--password-file", bad_pw], KeyMaterialError.exit_code))
    # a sidecar path that is a folder: when writing (output exists) and when reading (no payload)
    tif = tmp_path / "t.tif"
    sidecar_path(tif).mkdir()
    cases.append((["anonymize", astronaut_png, "-o", tif], OutputExistsError.exit_code))
    tif2 = tmp_path / "t2.tif"
    assert run("anonymize", astronaut_png, "-o", tif2) == 0
    side = sidecar_path(tif2)
    side.unlink()
    side.mkdir()
    cases.append((["recover", tif2, "-o", tmp_path / "r3.png"], PayloadMissingError.exit_code))
    for args, expected in cases:
        code, err = run_err(capsys, *args)
        assert (code, "internal error" in err) == (expected, False), (args, err)
        assert len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "r1.png").exists() and not (tmp_path / "x.png").exists()


def test_unreadable_sidecar_is_no_payload(tmp_path, astronaut_png, passphrase, capsys, monkeypatch):
    out = tmp_path / "t.tif"
    assert run("anonymize", astronaut_png, "-o", out) == 0
    real = Path.read_bytes

    def read_bytes(self):
        if self.name.endswith(".faceveil"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, err = run_err(capsys, "recover", out, "-o", tmp_path / "r.png")
    assert code == PayloadMissingError.exit_code and "Permission denied" in err


def test_hardware_encoder_without_its_device_is_a_clear_error(tmp_path, passphrase, capsys):
    import av

    from faceveil.testing import write_synthetic_clip

    try:
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
        from fractions import Fraction

        ctx.time_base = Fraction(1, 25)
        ctx.open()
        pytest.skip("this machine has an NVENC encoder")
    except Exception:
        pass
    clip = write_synthetic_clip(tmp_path / "c.mp4", seconds=0.2)
    code, err = run_err(capsys, "anonymize", clip.path, "-o", tmp_path / "o.mp4", "--codec", "h264_nvenc")
    assert code == InputError.exit_code and "h264_nvenc" in err and "internal error" not in err
    assert not (tmp_path / "o.mp4").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ #8 image + sidecar


def test_image_and_sidecar_are_written_as_a_pair(tmp_path, astronaut_png, passphrase, monkeypatch):
    from faceveil.io import atomic

    out = tmp_path / "o.png"
    real = atomic._move_into_place

    def interrupted(temp, target, overwrite):
        if Path(target) == out:  # Ctrl-C just before the image is renamed into place
            raise KeyboardInterrupt
        return real(temp, target, overwrite)

    monkeypatch.setattr(atomic, "_move_into_place", interrupted)
    with pytest.raises(KeyboardInterrupt):
        from faceveil import api

        api.anonymize(astronaut_png, out, keys=api.KeyOptions(passphrase="pw"), output_options=api.OutputOptions(payload="both"))
    assert not out.exists() and not sidecar_path(out).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files either
    monkeypatch.undo()
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "pw")
    # a sidecar left by an older, interrupted run whose image is missing is replaced, not an exit 9
    sidecar_path(out).write_bytes(b"stale")
    assert run("anonymize", astronaut_png, "-o", out, "--payload", "both") == 0
    assert sidecar_path(out).read_bytes() != b"stale"
    assert run("recover", out, "-o", tmp_path / "r.png", "--payload-file", sidecar_path(out)) == 0
    # with the image present the sidecar is protected as before
    assert run("anonymize", astronaut_png, "-o", out, "--payload", "both") == OutputExistsError.exit_code


def test_leftover_video_sidecar_is_replaced(tmp_path, passphrase):
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "c.mp4", seconds=0.2)
    out = tmp_path / "o.mp4"
    sidecar_path(out).write_bytes(b"stale")  # an interrupted run's sidecar; its video never appeared
    assert run("anonymize", clip.path, "-o", out) == 0
    assert sidecar_path(out).read_bytes() != b"stale"
    assert run("recover", out, "-o", tmp_path / "back.mkv") == 0
    assert run("anonymize", clip.path, "-o", out) == OutputExistsError.exit_code  # now it belongs to a video


# ------------------------------------------------------------------ #9 interrupts


def test_ctrl_c_exits_130_and_names_the_finished_files(tmp_path, astronaut, passphrase, capsys, monkeypatch):
    from faceveil import api

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(astronaut).save(folder / name)
    real = api._anonymize_one

    def one(anonymizer, src, *args):
        if src.name == "b.png":
            raise KeyboardInterrupt
        return real(anonymizer, src, *args)

    monkeypatch.setattr(api, "_anonymize_one", one)
    code, err = run_err(capsys, "anonymize", folder, "-o", tmp_path / "out")
    assert code == 130
    assert "interrupted; finished:" in err and "a.png" in err and "b.png" not in err.split("finished:")[1]


@pytest.mark.slow
def test_sigterm_during_video_anonymization_cleans_the_scratch_folder(tmp_path):
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "c.mp4", seconds=8, fps=25)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = {**os.environ, "FACEVEIL_PASSPHRASE": "pw", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "faceveil", "anonymize", str(clip.path), "-o", str(out_dir / "o.mkv")],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".") for p in out_dir.iterdir()):  # the scratch folder appears
        assert proc.poll() is None and time.monotonic() < deadline, "never started writing"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and "internal error" not in err
    assert list(out_dir.iterdir()) == []


# ------------------------------------------------------------------ #14 one exit-code contract


def _bad_usage(tmp, png, anon, clip):
    return [
        ["anonymize", png, "-m", "nope"],
        ["anonymize", png, "--detector", "nope"],
        ["anonymize", png, "--payload", "nope"],
        ["anonymize", png, "-O", "foo=1"],
        ["anonymize", png, "-O", "foo"],
        ["anonymize", png, "-O", "=1"],
        ["anonymize", png, "-O", "cells=abc"],
        ["anonymize", png, "-O", "noise=true"],
        ["anonymize", png, "-m", "blur", "-O", "cells=8"],
        ["anonymize", clip, "--codec", "nope", "-o", tmp / "v.mp4"],
        ["anonymize", png, "--max-pixels", "0"],
        ["anonymize", png, "-f", "nope"],
        ["anonymize", png, "--quality", "0"],
        ["anonymize", png, "-t", "5"],
        ["anonymize", png, "-O", "cells=1"],
        ["anonymize", png, "--obfuscation", "blur"],  # mosaic takes no obfuscation
        ["anonymize", png, "-m", "proface-s", "--obfuscation", "nope"],
        ["anonymize", png, "-m", "g2face", "-O", "foo=1"],
        ["anonymize", clip, "--crf", "-5", "-o", tmp / "v.mp4"],
        ["anonymize", clip, "--start", "2", "--end", "1", "-o", tmp / "v.mp4"],
        ["recover", anon, "-O", "foo=1"],
        ["keygen", tmp / "k", "--public", tmp],
        ["train", "nope"],
        ["anonymize", png, "-t", "abc"],
        ["anonymize", png, "--quality", "x"],
        ["anonymize", png, "--bogus-flag"],
        ["anonymize"],
        ["recover", anon, "-O", "weights"],
        ["recover", anon, "--crf", "x"],
        ["recover"],
        ["inspect"],
        ["inspect", anon, "--bogus"],
        ["keygen"],
        ["keygen", ""],
        ["models", "--bogus"],
        ["eval"],
        ["eval", "--method", "mosaic", "--anonymized", tmp],
        ["eval", "--method", "mosaic", "--far", "2"],
        ["eval", "--method", "mosaic", "--diversity", "-1"],
        ["nonsense-command"],
    ]


def test_every_command_answers_bad_usage_with_exit_2(tmp_path, anonymized, astronaut_png, capsys):
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "c.mp4", seconds=0.2).path
    for args in _bad_usage(tmp_path, astronaut_png, anonymized, clip):
        code, err = run_err(capsys, *args)
        assert code == 2 and "internal error" not in err, (args, code, err)
        assert len(err.splitlines()) == 1 and err.startswith("faceveil: "), (args, err)  # issue 25: one line


def test_option_a_method_does_not_take_lists_those_it_takes(astronaut_png, capsys, passphrase, tmp_path):
    code, err = run_err(capsys, "anonymize", astronaut_png, "-o", tmp_path / "o.png", "-m", "blur", "-O", "cells=8")
    assert code == 2
    assert "takes no option 'cells'" in err and "sigma_range" in err


def test_limits_can_be_raised_from_the_command_line(tmp_path, anonymized, astronaut_png, capsys):
    # the astronaut is 512x512 = 262,144 px
    assert run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--max-pixels", 1000) == LimitExceededError.exit_code
    assert run("recover", anonymized, "-o", tmp_path / "r.png", "--max-pixels", 1000) == LimitExceededError.exit_code
    assert run("inspect", anonymized, "--max-pixels", 1000) == LimitExceededError.exit_code
    assert run("recover", anonymized, "-o", tmp_path / "r.png", "--max-pixels", 262_144) == 0
    # a KDF cost above the ceiling (cheap, t=33 > 32) is exit 13; --trust-kdf-cost lets it derive (wrong salt: exit 6)
    from faceveil.io.carriers import extract_payload
    from tests.crypto.conftest import join_container, split_container
    from tests.test_cli import png_with_payload

    version, header, body = split_container(extract_payload(anonymized.read_bytes()))
    (stanza,) = header["recipients"]
    costly = tmp_path / "costly.png"
    costly.write_bytes(png_with_payload(anonymized.read_bytes(), join_container(
        version, header | {"recipients": [stanza | {"time_cost": 33, "memory_kib": 64, "parallelism": 1}]}, body)))
    assert run("recover", costly, "-o", tmp_path / "c.png") == LimitExceededError.exit_code
    assert run("recover", costly, "-o", tmp_path / "c.png", "--trust-kdf-cost") == WrongKeyError.exit_code


# ------------------------------------------------------------------ #15, #16


def test_two_inputs_and_an_output_file_name_is_refused(tmp_path, astronaut_png, hopper_jpg, passphrase):
    target = tmp_path / "x.png"
    assert run("anonymize", astronaut_png, hopper_jpg, "-o", target) == 2
    assert not target.exists()
    assert run("anonymize", astronaut_png, hopper_jpg, "-o", tmp_path / "outdir") == 0  # a folder name is fine
    assert (tmp_path / "outdir" / "astronaut.png").exists()


def test_rerun_on_a_folder_skips_anonymized_outputs(tmp_path, astronaut, passphrase, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    Image.fromarray(astronaut).save(folder / "b.tif")
    assert run("anonymize", folder) == 0  # a.anon.png (embedded) and b.anon.tif (+ sidecar) beside them
    capsys.readouterr()
    assert run("anonymize", folder, "-o", tmp_path / "again", "--json") == 0
    files = {Path(f["input"]).name: f for f in json.loads(capsys.readouterr().out)["files"]}
    assert files["a.anon.png"]["skipped"] and files["b.anon.tif"]["skipped"]
    assert "already carries a faceveil payload" in files["a.anon.png"]["notes"][0]
    assert not files["a.png"]["skipped"]
    assert not (tmp_path / "again" / "a.anon.png").exists()
    code, err = run_err(capsys, "anonymize", folder, "-o", tmp_path / "forced", "--force")
    assert code == 0 and (tmp_path / "forced" / "a.anon.png").exists() and "skipped" not in err
