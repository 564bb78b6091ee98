"""Methods rated honestly (issue 20, item 5): measured same-person rates in `anonymize --help` and
`faceveil models`; a method that does not hide identity from recognizers says so and warns when chosen."""

from __future__ import annotations

from PIL import Image

from faceveil.cli import main
from faceveil.methods import ratings
from faceveil.plugins import METHODS
from faceveil.testing import load_sample


def test_every_rated_method_exists_and_median_is_flagged():
    assert set(ratings.RATINGS) <= set(METHODS.names())
    assert ratings.warning("median") is not None and "does not hide identity" in ratings.warning("median")
    assert ratings.warning("mosaic") is None and ratings.warning("solid") is None
    assert "NOT hide identity" in METHODS.get("median").summary


def test_help_and_models_show_the_measured_table(capsys):
    assert main(["anonymize", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert "Measured identity hiding" in text and "bench_privacy.py --set heldout" in text
    assert "median: same person" in text
    assert main(["models"]) == 0
    assert "median: same person dlib" in capsys.readouterr().out


def test_choosing_median_warns_once_and_mosaic_does_not(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(load_sample("astronaut")).save(src)
    assert main(["anonymize", str(src), "-o", str(tmp_path / "m.png"), "-m", "median", "--payload", "none", "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: median does not hide identity from face recognizers") == 1
    assert main(["anonymize", str(src), "-o", str(tmp_path / "s.png"), "-m", "mosaic", "--payload", "none", "-q"]) == 0
    assert "warning" not in capsys.readouterr().err
