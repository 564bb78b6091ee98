"""Re-identification by ranking (issue 20, item 4) and the side-by-side report (item 6), on real faces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceveil.eval import metrics as M
from faceveil.eval.report import ReportWriter, verdicts
from faceveil.eval.runner import EvalConfig, evaluate
from faceveil.eval.sources import EvalItem, solid_floor
from faceveil.faces.detect import create_detector
from faceveil.pipeline.options import mask_options
from faceveil.testing import load_sample

LIGHT = dict(recognizers=("dlib",), detectors=(), landmarks68=False, facemesh=False, perceptual=False)


def test_rank_hits_and_chance_by_hand():
    gallery = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]], float)
    ids = ["a", "a", "b", "c"]
    probes = np.array([[0.95, 0.05, 0], [0, 0.2, 1], [1, 0, 0]], float)
    hits = M.rank_hits(probes, gallery, ["a", "b", "c"], ids, ks=(1, 2))
    # a: nearest is an "a" (either photo counts); b: nearest is c, 2nd... b is 2nd; c: nearest are the a's
    assert [h[1] for h in hits] == [1.0, 0.0, 0.0]
    assert [h[2] for h in hits] == [1.0, 1.0, 0.0]
    chance = M.rank_chance(ids, ids, ks=(1, 5))
    assert chance[1] == pytest.approx(np.mean([2 / 4, 2 / 4, 1 / 4, 1 / 4]))
    assert chance[5] == 1.0  # 5 guesses among 4 faces always include the right one


@pytest.fixture(scope="module")
def photos():
    detector = create_detector("centerface")
    out = []
    astronaut = load_sample("astronaut")
    for name, rgb in (("astronaut", astronaut), ("astronaut-mirrored", np.ascontiguousarray(astronaut[:, ::-1])),
                      ("grace_hopper", load_sample("grace_hopper"))):
        faces = detector.detect(rgb)
        assert len(faces) == 1
        out.append((name, rgb, faces))
    return out


def _items(photos, anonymize):
    mask = mask_options().mask
    return [EvalItem(name, rgb, anonymize(rgb, faces), faces, floor=solid_floor(rgb, faces, mask)) for name, rgb, faces in photos]


def test_ranking_in_evaluate_with_two_photos_of_one_person(photos):
    """Untouched faces are re-identified first; the solid fill is measured beside them; the mirrored
    astronaut counts as another photo of the same person, which the chance level accounts for."""
    config = EvalConfig(**LIGHT, identities={"astronaut": "eileen", "astronaut-mirrored": "eileen"})
    result = evaluate(_items(photos, lambda rgb, faces: rgb.copy()), config)
    assert result.metrics["rank1.anonymized.dlib"].mean == 1.0 and result.metrics["rank1.anonymized.dlib"].n == 3
    assert result.dataset["rank1.chance.dlib"] == pytest.approx(np.mean([2 / 3, 2 / 3, 1 / 3]))
    assert result.dataset["gallery.dlib"] == 3
    assert "rank1.floor.dlib" in result.metrics and "same_person.floor.dlib" in result.metrics
    assert result.metrics["same_person.floor.dlib"].mean == 0.0  # a grey ellipse is nobody
    assert verdicts(result)["dlib"]["hides"] is False  # nothing was hidden


def test_small_faces_are_listed_apart(photos):
    name, rgb, faces = photos[2]
    config = EvalConfig(**LIGHT, min_face=10_000)
    result = evaluate([EvalItem(name, rgb, rgb, faces)], config)
    assert result.per_face == [] and len(result.small_faces) == 1 and result.dataset["faces.small"] == 1
    assert any("measured apart" in n for n in result.notes)


def test_report_puts_methods_side_by_side_with_verdicts_groups_and_plots(photos, tmp_path):
    """Two "methods": leaving the face (hides nothing) and a grey fill (hides it). The report says so per
    recognizer, groups metrics with their direction, draws the threshold and floor plots, and shows
    thumbnails of both methods' outputs."""
    from faceveil.methods.classical import SolidMethod
    from faceveil.pipeline import anonymize_frame, face_contexts

    def grey(rgb, faces):
        return anonymize_frame(rgb, faces, SolidMethod(), face_contexts(faces, None, seeds=[0] * len(faces)),
                               mask=mask_options().mask).rgb

    config = EvalConfig(**LIGHT)
    writer = ReportWriter(tmp_path)
    runs = []
    for label, fn in (("untouched", lambda rgb, faces: rgb.copy()), ("grey", grey)):
        items = _items(photos, fn)
        for item in items:
            item.recovered, item.recovery_kind = item.original, "payload"
        runs.append((label, evaluate(items, config, on_item=lambda item, label=label: writer.add_item(item, label))))
    json_path, html_path = writer.write(runs, "two methods", {"command": "test"})
    page = html_path.read_text()
    assert "hides identity from dlib?" in page
    row = {label: page.split(f"<tr><th>{label}</th>")[1].split("</tr>")[0] for label in ("untouched", "grey")}
    assert "class=no>no" in row["untouched"] and "class=yes>yes" in row["grey"]
    for group in ("privacy", "utility", "recovery"):
        assert f"<th colspan=6>{group}</th>" in page or group == "utility"  # no utility metric measured here
    assert "same_person.anonymized.dlib</td><td>↓" in page and "recovery.psnr</td><td>↑" in page
    # page order: verdict before metrics; same-person rates before cosines
    assert page.index("Verdict") < page.index("Metrics") and page.index("same_person.png") < page.index("identity.png")
    for plot in ("same_person.png", "identity.png", "rank1.png"):
        assert (tmp_path / "plots" / plot).stat().st_size > 5000
    assert not (tmp_path / "plots" / "detection.png").exists()  # nothing to show: no empty chart
    assert "images/grey/astronaut_0_anonymized.png" in page and "images/untouched/astronaut_0_anonymized.png" in page
    assert "images/astronaut_0_original.png" in page
    data = json.loads(json_path.read_text())
    assert set(data["runs"]) == {"untouched", "grey"}
    assert data["runs"]["grey"]["verdict"]["dlib"]["hides"] is True


def test_identities_file_parses_and_refuses_bad_lines(tmp_path):
    from faceveil.errors import InputError
    from faceveil.eval.cli import read_identities

    good = tmp_path / "who.tsv"
    good.write_text("# who is who\nobama.jpg\tobama\nsub/obama2\tobama\n\n")
    assert read_identities(good) == {"obama": "obama", "sub/obama2": "obama"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("obama.jpg obama\n")
    with pytest.raises(InputError, match="bad.tsv:1"):
        read_identities(bad)
