"""`faceveil anonymize --detector NAME` accepts every registered detector (faceveil.plugins.DETECTORS),
not only the ones whose module happened to be imported; the face is covered and recovery is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.plugins import DETECTORS

ASTRONAUT_FACE = (160, 60, 270, 200)  # (x0, y0, x1, y1): well inside the astronaut's head and face


@pytest.mark.parametrize("detector", ["haar", "blazeface"])
def test_anonymize_with_an_analysis_detector(detector, astronaut_png, passphrase, tmp_path, capsys):
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    assert main(["anonymize", str(astronaut_png), "-o", str(out), "--detector", detector, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["files"][0]
    assert report["face_count"] >= 1
    original, anonymized = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (astronaut_png, out))
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert np.abs(original[y0:y1, x0:x1] - anonymized[y0:y1, x0:x1]).mean() > 10  # the face changed
    assert main(["recover", str(out), "-o", str(back)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(astronaut_png)))


def test_unknown_detector_lists_every_registered_one(astronaut_png, passphrase, tmp_path, capsys):
    assert main(["anonymize", str(astronaut_png), "-o", str(tmp_path / "x.png"), "--detector", "nope"]) == 2  # usage (issue 12 #14)
    err = capsys.readouterr().err
    assert "unknown face detector 'nope'" in err
    assert all(name in err for name in DETECTORS.names())
