"""faceveil.io.atomic: outputs appear complete or not at all, and never replace inputs."""

from __future__ import annotations

import os
import stat

import pytest

import faceveil.io.atomic as atomic
from faceveil.errors import FaceveilError, InputError, OutputExistsError
from faceveil.io.atomic import atomic_write_bytes

DATA = os.urandom(300_000)


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_writes_the_bytes_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.png"
    atomic_write_bytes(target, DATA)
    assert target.read_bytes() == DATA
    assert _names(tmp_path) == ["out.png"]


def test_new_files_get_umask_permissions_not_private_temp_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "out.png", DATA)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o644


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o600), (0o077, 0o600), (0o277, 0o400)])
def test_requested_mode_applies_to_new_and_replaced_files_minus_the_umask(tmp_path, umask, expected):
    target = tmp_path / "original.png"
    target.write_bytes(b"old")
    target.chmod(0o644)
    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "new.png", DATA, mode=atomic.PRIVATE_MODE)
        atomic_write_bytes(target, DATA, overwrite=True, mode=atomic.PRIVATE_MODE)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == expected
    assert stat.S_IMODE(target.stat().st_mode) == expected  # not the replaced file's 0o644
    assert target.read_bytes() == DATA


def test_restrict_permissions_honours_the_umask(tmp_path):
    target = tmp_path / "video.mkv"
    target.write_bytes(b"x")
    target.chmod(0o644)
    previous = os.umask(0o022)
    try:
        atomic.restrict_permissions(target)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_refuses_to_overwrite_unless_asked(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="already exists.*--overwrite"):
        atomic_write_bytes(target, DATA)
    assert target.read_bytes() == b"precious"
    os.chmod(target, 0o640)
    atomic_write_bytes(target, DATA, overwrite=True)
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _names(tmp_path) == ["out.png"]


def test_a_dangling_symlink_counts_as_existing(tmp_path):
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(OutputExistsError):
        atomic_write_bytes(tmp_path / "link.png", DATA)
    assert not (tmp_path / "nowhere.png").exists()


def test_never_writes_over_a_protected_input_even_with_overwrite(tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"original photo")
    (tmp_path / "alias.jpg").symlink_to(source)
    os.link(source, tmp_path / "hardlink.jpg")
    for target in (source, tmp_path / "alias.jpg", tmp_path / "." / "photo.jpg", tmp_path / "hardlink.jpg"):
        with pytest.raises(OutputExistsError, match="input file"):
            atomic_write_bytes(target, DATA, overwrite=True, protect=[source])
    assert source.read_bytes() == b"original photo"
    atomic_write_bytes(tmp_path / "other.jpg", DATA, protect=[source])
    assert (tmp_path / "other.jpg").read_bytes() == DATA


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        atomic_write_bytes(tmp_path / "no" / "such" / "dir.png", DATA)


def test_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(FaceveilError, match="No space left"):
        atomic_write_bytes(tmp_path / "out.png", DATA)
    assert _names(tmp_path) == []


def test_interrupt_before_rename_keeps_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous version")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, DATA, overwrite=True)
    assert target.read_bytes() == b"previous version"
    assert _names(tmp_path) == ["out.png"]


def test_losing_a_creation_race_does_not_clobber_the_winner(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    real_link = os.link

    def racing_link(src, dst):
        target.write_bytes(b"another process wrote this first")
        return real_link(src, dst)

    monkeypatch.setattr(atomic.os, "link", racing_link)
    with pytest.raises(OutputExistsError):
        atomic_write_bytes(target, DATA)
    assert target.read_bytes() == b"another process wrote this first"
    assert _names(tmp_path) == ["out.png"]


def test_unwritable_directory_is_a_clean_error(tmp_path, monkeypatch):
    # Simulated: the tests may run as root, which ignores directory permissions.
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(FaceveilError, match="cannot write .*Permission denied"):
        atomic_write_bytes(tmp_path / "out.png", DATA)
    assert _names(tmp_path) == []
