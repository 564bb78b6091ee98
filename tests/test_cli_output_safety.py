"""Issue 22 (#5): write failures have their own exit code and leave nothing; an unreadable password file
is exit 11; file names with control characters cannot split a message or forge a log line; two
--overwrite writers of one output leave a matching image and sidecar; scratch folders of a killed run
are removed by the next run; folder reruns in place skip finished inputs, pixel-only outputs included."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import OutputWriteError
from faceveil.io import atomic
from faceveil.io.carriers import sidecar_path


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "correct horse battery staple")


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------------------- write failures


def tiny_tmpfs(tmp_path: Path) -> Path | None:
    """A 200 kB tmpfs (a real full disk) where the test may mount one (root, mount allowed); else None."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        return None
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True)
    return mount if done.returncode == 0 else None


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder whose file system is full: a real tmpfs when possible, else writes fail with ENOSPC."""
    mount = tiny_tmpfs(tmp_path)
    if mount is not None:
        yield mount
        subprocess.run(["umount", "-l", str(mount)], check=False)
        return
    folder = tmp_path / "full"
    folder.mkdir()
    real_fsync = os.fsync

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    yield folder
    monkeypatch.setattr(os, "fsync", real_fsync)


def test_disk_full_is_a_write_error_with_nothing_left(full_disk, astronaut_png, env, capsys):
    code, err = run_cli(["anonymize", astronaut_png, "-o", full_disk / "out.png", "-q"], capsys)
    assert code == OutputWriteError.exit_code == 15
    assert err.count("\n") == 1 and "cannot write" in err and "internal error" not in err
    assert visible(full_disk) == []


def test_disk_full_while_encoding_a_video_is_a_write_error(tmp_path, env, capsys, monkeypatch):
    from faceveil.io.video import VideoWriter
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.2, audio_codec=None)
    out = tmp_path / "out"
    out.mkdir()

    def write(self, rgb, pts):
        raise OSError(errno.ENOSPC, "No space left on device")  # what PyAV raises (av.error.OSError is one)

    monkeypatch.setattr(VideoWriter, "write", write)
    code, err = run_cli(["anonymize", clip.path, "-o", out / "a.mkv", "-q"], capsys)
    assert code == 15 and "No space left" in err
    assert visible(out) == []  # no video, no scratch folder


def test_unwritable_output_folder_is_a_write_error(tmp_path, astronaut_png, env, capsys, monkeypatch):
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.2, audio_codec=None)
    locked = tmp_path / "locked"
    locked.mkdir()

    def refuse(*args, dir=None, **kwargs):  # what a folder without write permission does (root ignores chmod)
        if dir is not None and Path(dir) == locked:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, dir=None, **k: refuse(*a, dir=dir, **k) if Path(dir) == locked
                        else real_mkdtemp(*a, dir=dir, **k))
    for src, name in ((astronaut_png, "a.png"), (clip.path, "a.mkv")):
        code, err = run_cli(["anonymize", src, "-o", locked / name, "-q"], capsys)
        assert code == 15, err
        assert "Permission denied" in err
    assert visible(locked) == []


# ---------------------------------------------------------------------------------------- password file


def test_unreadable_password_file_is_exit_11(tmp_path, astronaut_png, capsys, monkeypatch):
    secret = tmp_path / "pw.txt"
    secret.write_text("pw\n")
    real_open = Path.open

    def open_(self, *args, **kwargs):  # mode 000 as a normal user (root reads anything)
        if self == secret:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    for args in (["anonymize", astronaut_png, "-o", tmp_path / "a.png"], ["recover", astronaut_png, "-o", tmp_path / "b.png"]):
        code, err = run_cli([*args, "-q", "--password-file", secret], capsys)
        assert code == 11 and "cannot read password file" in err


# ---------------------------------------------------------------------------------------- control characters


def test_newlines_in_file_names_do_not_split_error_or_progress_lines(tmp_path, astronaut, env, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a\n[9] forged.png: 9 faces\x1b[2K.png")
    (folder / "b\nfaceveil: forged line.png").write_bytes(b"not an image")
    code, err = run_cli(["anonymize", folder], capsys)
    assert code == 3
    lines = err.splitlines()
    assert not any(line.startswith(("[9] forged", "faceveil: forged")) for line in lines), err
    assert "\x1b" not in err
    assert any("a\\n[9] forged.png" in line for line in lines)
    assert sum("b\\nfaceveil: forged line.png" in line for line in lines) >= 1
    # a batch reports each file once (its progress line carries the failure), and that line is whole
    failures = [line for line in lines if "not a readable image" in line]
    assert len(failures) == 1 and "b\\nfaceveil: forged line.png" in failures[0]


# ---------------------------------------------------------------------------------------- concurrent writers


def test_two_overwrite_writers_leave_a_matching_image_and_sidecar(tmp_path, monkeypatch):
    image, side = tmp_path / "x.png", tmp_path / "x.png.faceveil"
    real_move = atomic._move_into_place
    second: list[threading.Thread] = []

    def move(temp, target, overwrite):
        real_move(temp, target, overwrite)
        if target == side and not second:  # writer A placed its sidecar; writer B runs now
            t = threading.Thread(target=atomic.atomic_write_files, args=([(side, b"sidecar B"), (image, b"image B")],),
                                 kwargs={"overwrite": True})
            second.append(t)
            t.start()
            t.join(timeout=1.0)  # without the lock B finishes here, between A's two moves

    monkeypatch.setattr(atomic, "_move_into_place", move)
    atomic.atomic_write_files([(side, b"sidecar A"), (image, b"image A")], overwrite=True)
    second[0].join()
    assert (image.read_bytes()[-1:], side.read_bytes()[-1:]) in ((b"A", b"A"), (b"B", b"B"))


# ---------------------------------------------------------------------------------------- scratch folders


def test_scratch_folder_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=3.0, audio_codec=None)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "FACEVEIL_PASSPHRASE": "pw", "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path.cwd()))}
    proc = subprocess.Popen([sys.executable, "-m", "faceveil", "anonymize", str(clip.path), "-o", str(out / "a.mkv"), "-q"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".a.mkv.") for p in out.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = [p for p in out.iterdir() if p.name.startswith(".a.mkv.")]
    assert leftovers and (leftovers[0] / atomic.ScratchDir.OWNER).is_file()
    scratch = atomic.ScratchDir(out / "a.mkv")  # what the next run for this output does first
    scratch.cleanup()
    assert visible(out) == []


def test_scratch_folder_of_a_live_run_or_not_ours_is_kept(tmp_path):
    live = atomic.ScratchDir(tmp_path / "a.mkv")
    foreign = tmp_path / ".a.mkv.keepme"
    foreign.mkdir()
    assert atomic.remove_stale_scratch(tmp_path / "a.mkv") == []
    assert live.dir.is_dir() and foreign.is_dir()
    live.cleanup()


# ---------------------------------------------------------------------------------------- reruns in place


def test_rerun_of_a_folder_in_place_skips_finished_inputs_and_exits_0(tmp_path, astronaut, env, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    assert run_cli(["anonymize", folder, "-q"], capsys)[0] == 0
    before = (folder / "a.anon.png").read_bytes()
    code, err = run_cli(["anonymize", folder], capsys)
    assert code == 0, err
    assert "its output" in err and "already there" in err
    assert (folder / "a.anon.png").read_bytes() == before
    assert visible(folder) == ["a.anon.png", "a.png"]


def test_pixel_only_output_is_recognised_and_not_anonymized_again(tmp_path, astronaut, env, capsys):
    from faceveil.pipeline.placement import carries_payload

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    out = tmp_path / "out"
    assert run_cli(["anonymize", folder, "-o", out, "-m", "proface-s", "--payload", "none", "-q"], capsys)[0] == 0
    (result,) = out.iterdir()
    assert not sidecar_path(result).exists()
    assert carries_payload(result) == "pixel-only locator"
    assert carries_payload(folder / "a.png") is None
    code, err = run_cli(["anonymize", out, "-o", tmp_path / "again", "-m", "proface-s", "--payload", "none"], capsys)
    assert code == 0 and "skipped: already carries a faceveil payload (pixel-only locator)" in err
    assert not (tmp_path / "again").exists() or visible(tmp_path / "again") == []


def test_pixel_only_netpbm_output_is_recognised_too(tmp_path, astronaut, env, capsys):
    """Pixel-only mode writes every lossless format, Netpbm included; each one's locator is found."""
    from faceveil.pipeline.placement import carries_payload

    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "a.ppm"
    assert run_cli(["anonymize", src, "-o", out, "-m", "proface-s", "--payload", "none", "-q"], capsys)[0] == 0
    assert carries_payload(out) == "pixel-only locator"
