"""`faceveil eval` end to end on the package-shipped faces: folder mode, method mode, pairs, report."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import pytest
from PIL import Image

from faceveil.analysis.dlib_models import DlibHogDetector
from faceveil.errors import InputError, UsageError
from faceveil.eval.cli import main, parse_options
from faceveil.testing import load_sample

FAST = ["--recognizer", "dlib", "--rate-detector", "haar", "--rate-detector", "dlib-hog", "--no-facemesh"]


def _face_box(rgb):
    face = max(DlibHogDetector().detect(rgb), key=lambda f: f.width * f.height)
    return [int(v) for v in face.box]


def _grey_out(rgb):
    x0, y0, x1, y1 = _face_box(rgb)
    out = rgb.copy()
    out[max(y0 - 20, 0) : y1 + 20, max(x0 - 20, 0) : x1 + 20] = 128
    return out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data, anon = root / "data", root / "anon"
    data.mkdir()
    anon.mkdir()
    astronaut, grace = load_sample("astronaut"), load_sample("grace_hopper")
    Image.fromarray(astronaut).save(data / "astronaut.png")
    Image.fromarray(grace).save(data / "grace.png")
    Image.fromarray(astronaut).save(anon / "astronaut.png")  # untouched: identity kept, detected
    Image.fromarray(_grey_out(grace)).save(anon / "grace.jpg", quality=95)  # suffix may differ
    return data, anon


@pytest.fixture(scope="module")
def folder_report(folders, tmp_path_factory) -> Path:
    data, anon = folders
    out = tmp_path_factory.mktemp("report")
    assert main(["--anonymized", str(anon), "--data", str(data), "--out", str(out), *FAST]) == 0
    return out


@pytest.mark.slow  # shares the 13 s folder_report fixture
def test_folder_mode_measures_real_differences(folder_report):
    report = json.loads((folder_report / "metrics.json").read_text())
    faces = {row["image"]: row for row in report["per_face"]}
    assert set(faces) == {"astronaut", "grace"}
    untouched, greyed = faces["astronaut"], faces["grace"]
    assert untouched["identity.anonymized.dlib"] == pytest.approx(1.0, abs=1e-6)
    assert untouched["same_person.anonymized.dlib"] == 1.0
    assert untouched["detected.dlib-hog"] == 1.0 and untouched["box_distance.dlib-hog"] == 0.0
    assert untouched["landmarks68_nme"] == pytest.approx(0.0, abs=1e-6)
    assert greyed["same_person.anonymized.dlib"] == 0.0
    assert greyed["identity.anonymized.dlib"] < untouched["identity.anonymized.dlib"] - 0.05
    assert greyed["detected.dlib-hog"] == 0.0 and greyed["detected.haar"] == 0.0
    assert report["metrics"]["detected.dlib-hog"] == {"mean": 0.5, "std": 0.5, "n": 2, "missing": 0}
    assert "recovery.mae" not in report["metrics"]  # nothing recovered in folder mode without --recovered
    assert report["models"]["identity, same_person, diversity, fed"] == ["dlib"]


@pytest.mark.slow  # shares the 13 s folder_report fixture
def test_html_report_renders_with_existing_images(folders, folder_report):
    data, anon = folders
    out = folder_report
    parser = _Collect()
    parser.feed((out / "report.html").read_text())
    assert parser.images, "the report shows images"
    for src in parser.images:
        assert not src.startswith(("http:", "https:", "/")), "offline, relative links only"
        assert (out / src).is_file(), src
        assert Image.open(out / src).size[0] > 0
    text = " ".join(parser.text)
    assert "identity.anonymized.dlib" in text and "detected.haar" in text and "Which models measured what" in text
    assert any("plots/identity.png" == s for s in parser.images)
    # a second run refuses to overwrite without --overwrite
    assert main(["--anonymized", str(anon), "--data", str(data), "--out", str(out), *FAST]) == 9


def test_method_mode_recovers_exactly(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(load_sample("astronaut")).save(data / "astronaut.png")
    out = tmp_path / "report"
    assert main(["--method", "pixelate", "--data", str(data), "--out", str(out), *FAST, "--no-landmarks68"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["recovery.mae"]["mean"] == 0.0 and metrics["recovery.psnr"]["mean"] == 100.0
    assert metrics["identity.recovered.dlib"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["identity.anonymized.dlib"]["mean"] < 0.99
    # progress on stderr (off a terminal: periodic lines and a final one with X/N and the rate)
    assert re.search(r"^done: eval: 1/1 images \(100 %\), [0-9.]+ images/s", capsys.readouterr().err, re.M)
    # -q: nothing on stdout or stderr when it succeeds (issue 25); the report is written all the same
    assert main(["--method", "pixelate", "--data", str(data), "--out", str(tmp_path / "quiet"), *FAST,
                 "--no-landmarks68", "-q"]) == 0
    assert capsys.readouterr() == ("", "") and (tmp_path / "quiet" / "metrics.json").exists()


@pytest.mark.slow  # 8 s idle, 40 s on a loaded 2-core machine (--durations)
def test_pairs_tar_at_far(tmp_path):
    astronaut, grace = load_sample("astronaut"), load_sample("grace_hopper")
    data, anon = tmp_path / "lfw", tmp_path / "anon"
    people = {
        "Astronaut": [astronaut, cv2.flip(astronaut, 1)],
        "Grace": [grace, cv2.flip(grace, 1)],
    }
    for name, images in people.items():
        (data / name).mkdir(parents=True)
        (anon / name).mkdir(parents=True)
        for k, img in enumerate(images, start=1):
            Image.fromarray(img).save(data / name / f"{name}_{k:04d}.jpg", quality=95)
            Image.fromarray(_grey_out(img)).save(anon / name / f"{name}_{k:04d}.png")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("Astronaut\t1\t2\nGrace\t1\t2\nAstronaut\t1\tGrace\t2\nGrace\t1\tAstronaut\t2\n")
    out = tmp_path / "report"
    fast = ["--recognizer", "dlib", "--rate-detector", "haar", "--no-facemesh", "--no-landmarks68"]
    args = ["--anonymized", str(anon), "--data", str(data), "--pairs", str(pairs), "--far", "0.5", "--out", str(out), *fast]
    assert main(args) == 0
    dataset = json.loads((out / "metrics.json").read_text())["dataset"]
    # originals: both genuine pairs beat the lower impostor score; greyed-out second images do not
    assert dataset["tar@far=0.5.original.dlib"] == 1.0
    assert dataset["tar@far=0.5.anonymized.dlib"] < 1.0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], UsageError.exit_code),  # neither --method nor --anonymized (issue 12 #14: usage is exit 2)
        (["--method", "blur", "--anonymized", "."], UsageError.exit_code),
        (["--method", "no-such-method"], UsageError.exit_code),
        (["--method", "blur", "--option", "novalue"], UsageError.exit_code),
        (["--anonymized", "/no/such/dir"], InputError.exit_code),  # a missing input, not usage
        (["--method", "blur", "--pairs", "pairs.txt"], UsageError.exit_code),  # --pairs without --data
        (["--method", "blur", "--far", "2"], UsageError.exit_code),
        (["--anonymized", ".", "--seed", "1"], UsageError.exit_code),  # seeds are for --method runs
    ],
)
def test_bad_usage_gives_typed_exit_codes(args, code, tmp_path):
    assert main([*args, "--out", str(tmp_path / "o")]) == code


def test_parse_options():
    assert parse_options(["sigma=3", "mode=fast", "flag=true"]) == {"sigma": 3, "mode": "fast", "flag": True}


def test_sub_app_wires_into_a_parent_typer_app():
    import typer
    from typer.testing import CliRunner

    from faceveil.eval.cli import app as eval_app

    parent = typer.Typer()

    @parent.command()
    def version():  # a parent needs one command of its own for typer to keep sub-app routing
        print("0")

    parent.add_typer(eval_app, name="eval")
    result = CliRunner().invoke(parent, ["eval", "--help"])
    assert result.exit_code == 0
    assert "--anonymized" in result.output and "--method" in result.output


def test_two_methods_side_by_side_in_one_report(tmp_path, capsys):
    """`-m mosaic -m "median:kernel=9"`: one report, both methods' verdicts, JSON runs, summary lines."""
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(load_sample("grace_hopper")).save(data / "grace.png")
    out = tmp_path / "out"
    code = main(["-m", "mosaic", "-m", "median:kernel=9", "--data", str(data), "-o", str(out), "--seed", "2",
                 "--recognizer", "dlib", "--rate-detector", "haar", "--no-facemesh", "--no-landmarks68"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mosaic: 1 face(s) measured" in printed and "median:kernel=9: 1 face(s) measured" in printed
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert set(runs) == {"mosaic", "median:kernel=9"} and all("dlib" in r["verdict"] for r in runs.values())
    page = (out / "report.html").read_text()
    assert "<tr><th>mosaic</th>" in page and "<tr><th>median:kernel=9</th>" in page
    assert "--shape auto --mask-scale 1.3" in page


@pytest.mark.parametrize("spec", ["mosaic:cells=zz", "mosaic:nosuch=1", "nosuch"])
def test_a_bad_method_spec_fails_before_the_report_folder_exists(tmp_path, capsys, spec):
    code = main(["-m", "blur", "-m", spec, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("faceveil eval: ")
    assert not (tmp_path / "out").exists()
