"""Issue 24 #4: --preview never writes the identifiable original to a name meant for an output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from faceveil.cli import main


def run(*args) -> int:
    return main([str(a) for a in args])


def test_preview_to_a_plain_output_name_is_refused_and_writes_nothing(tmp_path, astronaut_png, monkeypatch, capsys):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert run("anonymize", astronaut_png, "-o", tmp_path / "out.jpg", "--preview") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".preview.jpg" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    # a --format that changes the extension is checked on the final name too
    assert run("anonymize", astronaut_png, "-o", tmp_path / "x.preview.jpg", "-f", "png", "--preview") == 0
    assert (tmp_path / "x.preview.png").exists()


def test_preview_with_a_preview_name_writes_it(tmp_path, astronaut_png, astronaut, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    out = tmp_path / "out.preview.png"
    assert run("anonymize", astronaut_png, "-o", out, "--preview") == 0
    with Image.open(out) as im:
        drawn = np.asarray(im.convert("RGB"))
    assert np.any(drawn != astronaut)  # boxes drawn on the original


def test_preview_into_an_output_folder_uses_preview_names(tmp_path, astronaut, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(astronaut).save(src / name)
    out = tmp_path / "out"
    assert run("anonymize", src, "-o", out, "--preview") == 0
    assert sorted(p.name for p in Path(out).iterdir()) == ["a.preview.png", "b.preview.png"]
