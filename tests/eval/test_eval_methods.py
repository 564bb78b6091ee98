"""`faceveil eval --method M` runs through the same pipeline as `faceveil anonymize` for EVERY
registered method (PRO-Face S used to crash: its recovery needs the rectangles recorded at
anonymization time)."""

import json

import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import ModelUnavailableError
from faceveil.models_registry import require_model
from faceveil.plugins import METHODS
from faceveil.testing import load_sample

FAST = ["--recognizer", "dlib", "--rate-detector", "haar", "--no-facemesh", "--no-landmarks68"]


def _weights_missing(method: str) -> bool:
    """G2Face needs the authors' release (user weights); every other method ships what it needs."""
    if method != "g2face":
        return False
    try:
        require_model("g2face")
        return False
    except ModelUnavailableError:
        return True


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval-methods") / "data"
    folder.mkdir()
    Image.fromarray(load_sample("astronaut")).save(folder / "astronaut.png")
    return folder


def _required_options(method: str, tmp_path) -> list[str]:
    """The -O options a method cannot run without (replace: the image pasted over the faces)."""
    if method != "replace":
        return []
    Image.fromarray(load_sample("grace_hopper")).save(tmp_path / "replacement.png")
    return ["-O", f"image={tmp_path / 'replacement.png'}"]


@pytest.mark.parametrize("method", METHODS.names())
def test_eval_runs_every_registered_method(method, data, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["eval", "--method", method, "--data", str(data), "--out", str(out), "--seed", "1", *FAST,
                 *_required_options(method, tmp_path)])
    if _weights_missing(method):
        # the documented missing-weights error: one line naming the file and where we looked, exit 10
        assert code == 10
        err = capsys.readouterr().err
        assert "missing model files" in err and "G2Face.pth" in err and "Traceback" not in err
        return
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "metrics.json").read_text())
    metrics = report["metrics"]
    assert metrics["identity.anonymized.dlib"]["n"] >= 1
    if method == "proface-s":
        # the key holder's recovery from the pixels is close; a wrong key's is not
        assert metrics["recovery.psnr"]["mean"] > 25
        assert metrics["recovery.psnr"]["mean"] > metrics["wrong_key.psnr"]["mean"] + 10
    elif method != "g2face":
        assert metrics["recovery.psnr"]["mean"] == 100.0  # exact payload recovery
