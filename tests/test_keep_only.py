"""Issue 24 #1: --keep / --only choose who is anonymized, matched with the fused offline recognizers.

Real faces: the package-shipped astronaut and Grace Hopper (two people), and, when the dev-face cache is
there (``bash ../shared/data/dev-faces.sh``), one person in six photos beside another person.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.crypto.container import read_info
from faceveil.io.carriers import extract_payload
from faceveil.testing import load_sample

DEV = Path.home() / ".cache" / "faceveil-dev-faces"


def run(*args) -> int:
    return main([str(a) for a in args])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def side_by_side(*images: np.ndarray) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    return np.concatenate([np.pad(i, ((0, h - i.shape[0]), (0, 0), (0, 0)), constant_values=90) for i in images], axis=1)


def changed(a: np.ndarray, b: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float(np.mean(np.any(a[max(y0, 0):y1, max(x0, 0):x1] != b[max(y0, 0):y1, max(x0, 0):x1], axis=-1)))


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """A photo of both people, and a reference of each that is not the same picture (another scale,
    mirrored, re-encoded as JPEG)."""
    folder = tmp_path_factory.mktemp("people")
    astronaut, hopper = load_sample("astronaut"), load_sample("grace_hopper")
    scene = folder / "both.png"
    Image.fromarray(side_by_side(astronaut, hopper)).save(scene)
    refs = {}
    for name, img in (("astronaut", astronaut), ("hopper", hopper)):
        ref = cv2.resize(np.ascontiguousarray(img[:, ::-1]), None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
        refs[name] = folder / f"{name}_ref.jpg"
        Image.fromarray(ref).save(refs[name], quality=80)
    return scene, refs


def anonymize_json(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = run("anonymize", *args, "--json", "-q")
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else {})


@pytest.mark.slow
def test_keep_leaves_the_reference_person_and_only_hides_only_them(tmp_path, people, passphrase, capsys):
    scene, refs = people
    original = pixels(scene)
    width_a = load_sample("astronaut").shape[1]

    out = tmp_path / "keep.png"
    code, report = anonymize_json(capsys, scene, "-o", out, "--keep", refs["astronaut"])
    assert code == 0
    f = report["files"][0]
    assert len(f["kept"]) == 1 and f["kept"][0]["box"][2] <= width_a  # the astronaut (left half) is kept
    assert f["kept"][0]["reference"] == "astronaut_ref.jpg" and "kept: matches a --keep reference" in f["kept"][0]["reason"]
    assert f["face_count"] == 1 and f["faces"][0]["box"][0] >= width_a  # Grace Hopper is anonymized
    anon = pixels(out)
    assert changed(anon, original, f["kept"][0]["box"]) == 0.0
    assert changed(anon, original, f["faces"][0]["box"]) > 0.3
    # the payload header records what was kept and why, but names no reference file (and holds no embedding)
    extra = read_info(extract_payload(out.read_bytes())).extra
    assert [k["box"] for k in extra["kept"]] == [f["kept"][0]["box"]]
    assert all(set(k) <= {"box", "score", "reason", "match"} for k in extra["kept"])
    assert b"astronaut_ref" not in out.read_bytes()
    capsys.readouterr()
    assert run("inspect", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["kept"] == extra["kept"]
    # recovery is unchanged: bit-exact
    assert run("recover", out, "-o", tmp_path / "back.png") == 0
    assert np.array_equal(pixels(tmp_path / "back.png"), original)

    out = tmp_path / "only.png"
    code, report = anonymize_json(capsys, scene, "-o", out, "--only", refs["astronaut"])
    f = report["files"][0]
    assert code == 0 and f["face_count"] == 1 and f["faces"][0]["box"][2] <= width_a  # only the astronaut hidden
    assert len(f["kept"]) == 1 and f["kept"][0]["box"][0] >= width_a and "matches no --only reference" in f["kept"][0]["reason"]
    anon = pixels(out)
    assert changed(anon, original, f["kept"][0]["box"]) == 0.0 and changed(anon, original, f["faces"][0]["box"]) > 0.3


def test_a_reference_without_exactly_one_face_is_one_line_exit_3(tmp_path, people, passphrase, capsys):
    scene, _ = people
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(blank)
    for ref, what in ((blank, "no face found"), (scene, "2 faces found")):
        capsys.readouterr()
        assert run("anonymize", scene, "-o", tmp_path / "out.png", "--keep", ref) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(ref) in err and what in err and "Traceback" not in err
        assert not (tmp_path / "out.png").exists()
    assert run("anonymize", scene, "-o", tmp_path / "out.png", "--keep", ref, "--only", ref) == 2
    assert run("anonymize", scene, "-o", tmp_path / "out.png", "--keep", tmp_path / "missing.jpg") == 3


@pytest.mark.slow
@pytest.mark.skipif(not (DEV / "obama.jpg").exists(), reason="dev faces absent (bash ../shared/data/dev-faces.sh)")
def test_keep_a_folder_of_one_person_on_other_photos_of_them(tmp_path, passphrase, capsys):
    """Reference: a folder of two photos of the person; scene: a third photo of them beside another person."""
    refs = tmp_path / "refs"
    refs.mkdir()
    for name in ("obama2.jpg", "obama3.jpg"):
        (refs / name).write_bytes((DEV / name).read_bytes())
    person, other = pixels(DEV / "obama.jpg"), pixels(DEV / "biden.jpg")
    scene = tmp_path / "scene.png"
    Image.fromarray(side_by_side(person, other)).save(scene)
    code, report = anonymize_json(capsys, scene, "-o", tmp_path / "out.png", "--keep", refs)
    f = report["files"][0]
    assert code == 0 and len(f["kept"]) == 1 and f["kept"][0]["box"][2] <= person.shape[1]
    assert f["face_count"] == 1 and f["faces"][0]["box"][0] >= person.shape[1]


@pytest.fixture
def clip(tmp_path):
    from faceveil.testing import write_synthetic_clip

    return write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.6)


@pytest.mark.slow
def test_video_decides_per_track(tmp_path, clip, passphrase, capsys):
    """The generated clip's face is the astronaut: --keep astronaut keeps its whole track (no frame
    anonymized), --keep Grace Hopper anonymizes it in every frame."""
    ref = tmp_path / "astronaut.jpg"
    Image.fromarray(cv2.resize(load_sample("astronaut")[:, ::-1].copy(), (300, 300))).save(ref)
    code, report = anonymize_json(capsys, clip.path, "-o", tmp_path / "keep.mkv", "--keep", ref)
    f = report["files"][0]
    assert code == 0 and f["face_count"] == 0 and len(f["kept"]) >= 1
    assert all("compared frames match" in k["reason"] for k in f["kept"])
    from faceveil.api import inspect

    header_kept = inspect(tmp_path / "keep.mkv")["kept"]  # in the payload header, without the reference's name
    assert [k["track_id"] for k in header_kept] == [k["track_id"] for k in f["kept"]]
    assert all("reference" not in k for k in header_kept)
    hopper = tmp_path / "hopper.jpg"
    Image.fromarray(load_sample("grace_hopper")).save(hopper)
    code, report = anonymize_json(capsys, clip.path, "-o", tmp_path / "other.mkv", "--keep", hopper)
    f = report["files"][0]
    assert code == 0 and f["face_count"] >= 1 and "kept" not in f


def test_boxes_file_actions_keep_and_ignore(tmp_path, astronaut_png, astronaut, passphrase, capsys):
    """What `faceveil review` saves: a detection marked keep stays untouched, a box marked ignore is not
    anonymized, a plain added box is; a bad action is a usage error (exit 2)."""
    code, report = anonymize_json(capsys, astronaut_png, "-o", tmp_path / "plain.png")
    face = report["files"][0]["faces"][0]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"faces": [{"box": face["box"], "action": "keep"},
                                           {"box": [20, 380, 100, 480], "action": "ignore"},
                                           {"box": [400, 20, 480, 100]}]}))
    out = tmp_path / "out.png"
    code, report = anonymize_json(capsys, astronaut_png, "-o", out, "--boxes", boxes)
    f = report["files"][0]
    assert code == 0 and [x["box"] for x in f["faces"]] == [[400, 20, 480, 100]]
    assert [k["reason"] for k in f["kept"]] == ["kept by hand in boxes.json", "not a face (ignored by hand) in boxes.json"]
    anon = pixels(out)
    assert changed(anon, astronaut, face["box"]) == 0.0 and changed(anon, astronaut, [20, 380, 100, 480]) == 0.0
    assert changed(anon, astronaut, [400, 20, 480, 100]) > 0.3
    boxes.write_text(json.dumps([{"box": [1, 1, 50, 50], "action": "blur-it"}]))
    capsys.readouterr()
    assert run("anonymize", astronaut_png, "-o", tmp_path / "bad.png", "--boxes", boxes) == 2
    assert "action" in capsys.readouterr().err
