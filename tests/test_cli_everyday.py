"""Issue 14 through the CLI: the options deface users reach for (mask shape/scale, --boxes, --preview,
--draw-boxes, --scale, --threads, --device, --version, --help), progress and summaries, on real photos
(skimage astronaut, matplotlib grace_hopper) and generated clips (faceveil.testing)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.crypto.container import read_info
from faceveil.errors import DeviceUnavailableError, InputError, UsageError
from faceveil.faces.draw import DETECTED_COLOUR, IMPORTED_COLOUR
from faceveil.faces.mask import DEFACE_MASK_SCALE
from faceveil.io.carriers import extract_payload

ROOT = Path(__file__).resolve().parents[1]


def run(*args) -> int:
    return main([str(a) for a in args])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def anonymize_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert run("anonymize", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def container_extra(path: Path) -> dict:
    return read_info(extract_payload(path.read_bytes())).extra


# ------------------------------------------------------------------------------------------ mask


def test_default_mask_is_deface_ellipse_and_recovery_stays_exact(tmp_path, astronaut_png, astronaut, passphrase, capsys):
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    face = anonymize_json(capsys, astronaut_png, "-o", out)["files"][0]["faces"][0]
    x, y, w, h = face["rect"]
    x0, y0, x1, y1 = face["box"]
    anon = pixels(out)
    # deface's margin: each side moves out by 0.3 box sizes, so the region is 1.6 box sizes wide
    assert w == pytest.approx(1.6 * (x1 - x0), abs=3) and h == pytest.approx(1.6 * (y1 - y0), abs=3)
    # ellipse: the region's corners keep their pixels, the centre does not
    assert np.array_equal(anon[y : y + 5, x : x + 5], astronaut[y : y + 5, x : x + 5])
    cy, cx = y + h // 2, x + w // 2
    assert not np.array_equal(anon[cy - 5 : cy + 5, cx - 5 : cx + 5], astronaut[cy - 5 : cy + 5, cx - 5 : cx + 5])
    assert container_extra(out)["mask"] == {"shape": "ellipse", "scale": DEFACE_MASK_SCALE, "feather": 0.15}
    assert run("recover", out, "-o", back) == 0
    assert np.array_equal(pixels(back), astronaut)


def test_box_shape_and_mask_scale(tmp_path, astronaut_png, astronaut, passphrase, capsys):
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    face_big = anonymize_json(capsys, astronaut_png, "-o", big, "--shape", "box")["files"][0]["faces"][0]
    face_small = anonymize_json(capsys, astronaut_png, "-o", small, "--shape", "box", "--mask-scale", "1")["files"][0]["faces"][0]
    x, y, w, h = face_big["rect"]
    anon = pixels(big)
    assert not np.array_equal(anon[y : y + 5, x : x + 5], astronaut[y : y + 5, x : x + 5])  # box: corners replaced too
    assert face_small["rect"][2] < 0.7 * w  # scale 1: the detector box itself (1.0 vs 1.6 box sizes)
    assert container_extra(small)["mask"]["scale"] == 1.0
    assert run("anonymize", astronaut_png, "-o", tmp_path / "x.png", "--mask-scale", "0.5") == UsageError.exit_code


def test_mask_scale_default_matches_the_mask_module():
    from faceveil import cli

    assert cli._MASK_SCALE_DEFAULT == DEFACE_MASK_SCALE


# ------------------------------------------------------------------------------------------ boxes


def test_boxes_file_adds_a_missed_face_and_recovery_stays_exact(tmp_path, astronaut_png, astronaut, passphrase, capsys):
    missed = [20.0, 380.0, 100.0, 480.0]  # a "face" the detector cannot see (the lower left corner)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"files": [{"input": str(astronaut_png), "faces": [{"box": missed}]}]}))
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    report = anonymize_json(capsys, astronaut_png, "-o", out, "--boxes", boxes)["files"][0]
    assert report["face_count"] == 2 and report["faces"][1]["box"] == missed
    assert any("boxes.json" in n for n in report["notes"])
    cx, cy = 60, 430
    assert not np.array_equal(pixels(out)[cy - 10 : cy + 10, cx - 10 : cx + 10], astronaut[cy - 10 : cy + 10, cx - 10 : cx + 10])
    assert run("recover", out, "-o", back) == 0
    assert np.array_equal(pixels(back), astronaut)


def test_boxes_file_replaces_an_overlapping_detection(tmp_path, hopper_jpg, passphrase, capsys):
    detected = anonymize_json(capsys, hopper_jpg, "-o", tmp_path / "a.png")["files"][0]["faces"]
    assert len(detected) == 1
    x0, y0, x1, y1 = detected[0]["box"]
    mine = [x0 - 4, y0 - 4, x1 + 4, y1 + 4]  # the same face, a box the person prefers
    (tmp_path / "b.json").write_text(json.dumps([{"box": mine}]))
    faces = anonymize_json(capsys, hopper_jpg, "-o", tmp_path / "b.png", "--boxes", tmp_path / "b.json")["files"][0]["faces"]
    assert len(faces) == 1 and faces[0]["box"] == pytest.approx(mine)
    assert "landmarks" in faces[0]  # the detector's landmarks are kept


def test_bad_boxes_file_is_a_usage_error(tmp_path, astronaut_png, passphrase, capsys):
    (tmp_path / "bad.json").write_text('{"faces": [{"box": [10, 10, 5, 5]}]}')
    assert run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--boxes", tmp_path / "bad.json") == UsageError.exit_code
    assert "x1 > x0" in capsys.readouterr().err
    assert run("anonymize", astronaut_png, "--boxes", tmp_path / "missing.json") == UsageError.exit_code
    assert not (tmp_path / "o.png").exists()


# ------------------------------------------------------------------------------------------ preview, draw


def _has_colour(rgb: np.ndarray, colour) -> bool:
    return bool(np.all(rgb == np.asarray(colour, np.uint8), axis=-1).any())


def test_preview_writes_only_the_annotated_image_and_needs_no_key(tmp_path, astronaut, monkeypatch, capsys):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    folder = tmp_path / "in"
    folder.mkdir()
    src = folder / "astronaut.png"
    Image.fromarray(astronaut).save(src)
    (tmp_path / "extra.json").write_text(json.dumps([{"box": [20, 380, 100, 480]}]))
    capsys.readouterr()
    assert run("anonymize", src, "--preview", "--boxes", tmp_path / "extra.json") == 0  # stdin is no terminal: no prompt
    assert sorted(p.name for p in folder.iterdir()) == ["astronaut.png", "astronaut.preview.png"]
    preview = pixels(folder / "astronaut.preview.png")
    assert _has_colour(preview, DETECTED_COLOUR) and _has_colour(preview, IMPORTED_COLOUR)
    assert not _has_colour(astronaut, DETECTED_COLOUR)
    changed = np.any(preview != astronaut, axis=-1)
    assert 0 < changed.mean() < 0.1  # lines and labels only: the face itself is still there
    assert run("inspect", folder / "astronaut.preview.png", "--json") == 0
    assert json.loads(capsys.readouterr().out)["payload"] is None


def test_draw_boxes_overlays_the_output_and_recovery_stays_exact(tmp_path, astronaut_png, astronaut, passphrase):
    out, back = tmp_path / "out.png", tmp_path / "back.png"
    assert run("anonymize", astronaut_png, "-o", out, "--draw-boxes") == 0
    assert _has_colour(pixels(out), DETECTED_COLOUR)
    assert run("recover", out, "-o", back) == 0
    assert np.array_equal(pixels(back), astronaut)


# ------------------------------------------------------------------------------------------ speed knobs


def test_scale_detects_at_a_lower_resolution(tmp_path, astronaut_png, passphrase, capsys):
    full = anonymize_json(capsys, astronaut_png, "-o", tmp_path / "a.png")["files"][0]["faces"][0]["box"]
    low = anonymize_json(capsys, astronaut_png, "-o", tmp_path / "b.png", "--scale", "256x256")["files"][0]["faces"]
    assert len(low) == 1
    box = low[0]["box"]
    assert box != full and max(abs(a - b) for a, b in zip(box, full)) < 12  # same face, found at half size
    for bad in ("256", "abcx10", "10x10"):
        assert run("anonymize", astronaut_png, "-o", tmp_path / "c.png", "--scale", bad) == UsageError.exit_code
    assert run("anonymize", astronaut_png, "-o", tmp_path / "c.png", "--scale", "256x256", "--detector", "haar") == UsageError.exit_code


def test_runtime_options_reach_the_detector_config():
    from faceveil.faces.detect import create_detector
    from faceveil.runtime import RuntimeOptions

    config = create_detector("centerface", **RuntimeOptions(scale=(640, 360), threads=2).detector_options("centerface")).config
    assert (config.max_side, config.tile, config.intra_op_threads) == (640, False, 2)
    assert create_detector("centerface", **RuntimeOptions().detector_options("centerface")).config.intra_op_threads == 0
    assert RuntimeOptions(threads=3).detector_options("haar") == {}  # haar has no thread knob: nothing to pass


def test_threads_gives_the_same_detections(tmp_path, hopper_jpg, passphrase, capsys):
    default = anonymize_json(capsys, hopper_jpg, "-o", tmp_path / "a.png")["files"][0]["faces"]
    one = anonymize_json(capsys, hopper_jpg, "-o", tmp_path / "b.png", "--threads", "1")["files"][0]["faces"]
    assert len(one) == len(default) == 1
    assert one[0]["box"] == pytest.approx(default[0]["box"], abs=0.05)
    assert run("anonymize", hopper_jpg, "-o", tmp_path / "c.png", "--threads", "0") == UsageError.exit_code


def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, astronaut_png, passphrase, capsys):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    assert run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--device", "cuda") == DeviceUnavailableError.exit_code == 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda" in err and "--device cpu" in err
    assert not (tmp_path / "o.png").exists()
    assert run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--device", "tpu") == UsageError.exit_code


@pytest.fixture
def restore_threads():
    """--threads sets process-wide counts (OpenCV, torch, the video codecs): put them back for later tests."""
    import cv2
    import torch

    from faceveil.io.video import set_codec_threads

    before = (cv2.getNumThreads(), torch.get_num_threads())
    yield
    cv2.setNumThreads(before[0])
    torch.set_num_threads(before[1])
    set_codec_threads(None)


def test_recover_threads_reach_opencv_torch_and_the_codecs(tmp_path, astronaut_png, astronaut, passphrase, clip,
                                                          restore_threads):
    import cv2
    import torch

    from faceveil.io.video import codec_threads

    out = tmp_path / "o.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s") == 0
    assert run("recover", out, "-o", tmp_path / "exact.png", "--threads", "1") == 0
    assert np.array_equal(pixels(tmp_path / "exact.png"), astronaut)
    assert (cv2.getNumThreads(), codec_threads()) == (1, 1)
    assert run("recover", out, "-o", tmp_path / "px.png", "--from-pixels", "--threads", "2") == 0
    assert (cv2.getNumThreads(), torch.get_num_threads(), codec_threads()) == (2, 2, 2)
    face = (slice(40, 200), slice(170, 290))
    assert np.mean(np.abs(pixels(tmp_path / "px.png")[face].astype(int) - astronaut[face])) < 8  # recovered
    video_out, video_back = tmp_path / "v.mkv", tmp_path / "vb.mkv"
    assert run("anonymize", clip.path, "-o", video_out, "--lossless") == 0
    assert run("recover", video_out, "-o", video_back, "--threads", "1") == 0 and codec_threads() == 1
    assert all(np.array_equal(a, b) for a, b in zip(_frames(clip.path), _frames(video_back)))
    assert run("recover", out, "-o", tmp_path / "x.png", "--threads", "0") == UsageError.exit_code


def test_recover_device_reaches_the_re_created_method_and_cuda_without_a_gpu_is_exit_10(
        tmp_path, astronaut_png, passphrase, capsys, monkeypatch):
    import torch

    import faceveil.pipeline.photo as photo
    import faceveil.runtime as runtime
    from faceveil.methods.base import create_method
    from faceveil.runtime import RuntimeOptions

    out = tmp_path / "o.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s") == 0
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert run("recover", out, "-o", tmp_path / "b.png", "--from-pixels", "--device", "cuda") == DeviceUnavailableError.exit_code == 10
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--device cuda" in err and "--device cpu" in err
        assert not (tmp_path / "b.png").exists()
    assert run("recover", out, "-o", tmp_path / "b.png", "--device", "tpu") == UsageError.exit_code
    # with the hardware check passed, --device reaches the method recover re-creates (run here on the CPU)
    seen = []

    def spy(name, **options):
        seen.append(options.get("device"))
        return create_method(name, **(options | {"device": "cpu"}))

    monkeypatch.setattr(runtime, "check_torch_cuda", lambda: None)
    monkeypatch.setattr(photo, "create_method", spy)
    assert run("recover", out, "-o", tmp_path / "c.png", "--from-pixels", "--device", "cuda") == 0
    assert seen == ["cuda"]
    assert RuntimeOptions(device="cuda").recovery_method_options("mosaic") == {}  # classical: CPU only
    assert RuntimeOptions(device="cuda").recovery_method_options("no-such-method") == {}


# ------------------------------------------------------------------------------------------ version, help


def test_version_matches_the_package(capsys):
    import faceveil

    assert run("--version") == 0
    printed = capsys.readouterr().out.strip()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert printed == f"faceveil {faceveil.__version__}" == f"faceveil {version}"


def test_help_shows_defaults_detectors_and_method_options_from_the_schemas(capsys, monkeypatch):
    from faceveil.cli import _format_default
    from faceveil.plugins import DETECTORS, METHODS

    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside KEY=VALUE pairs
    assert run("anonymize", "--help") == 0
    text = re.sub(r"\s+", " ", capsys.readouterr().out.replace("│", " "))
    assert "[default: (0.2 with centerface" in text
    for default in ("[default: mosaic]", "[default: centerface]", "[default: embedded]", "[default: auto]",
                    "[default: 1.3]", "[default: cpu]", "[default: (a JPEG input's own (its quantization tables), else 95)]"):
        assert default in text
    for plugin in DETECTORS:
        assert f"{plugin.name}: {plugin.summary}" in text
    for plugin in METHODS:
        for key, value in plugin.option_defaults().items():
            assert f"{key}={_format_default(value)}" in text, (plugin.name, key)
    assert "faceswap=" not in text  # Python-only options stay out


# ------------------------------------------------------------------------------------------ progress, summary


def test_batch_prints_x_of_n_lines_and_a_summary_with_payload_size(tmp_path, astronaut, passphrase, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    Image.fromarray(astronaut[:, ::-1]).save(folder / "b.png")
    (folder / "c.png").write_bytes(b"not an image")
    capsys.readouterr()
    code = run("anonymize", folder, "-o", tmp_path / "out", "--json")
    assert code == InputError.exit_code
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout stays pure JSON
    assert all(f["payload_bytes"] > 1000 for f in report["files"] if f["ok"])
    total = sum(f["payload_bytes"] for f in report["files"])
    assert re.search(r"^\[1/3\] \S*a\.png -> \S*a\.png: 1 face\(s\) anonymized with mosaic; payload: embedded", captured.err, re.M)
    assert re.search(r"^\[3/3\] c\.png: FAILED: ", captured.err, re.M)
    assert f"done: 3 files (2 ok, 1 failed), 2 faces, payload {total / 1e6:.2f} MB, " in captured.err
    run("anonymize", folder, "-o", tmp_path / "out2", "--quiet")
    err = capsys.readouterr().err
    assert "[1/3]" not in err and "done:" not in err


# ------------------------------------------------------------------------------------------ video


def test_folders_are_searched_once_per_command(tmp_path, astronaut, passphrase, monkeypatch, capsys):
    """The CLI counts the files for its progress bar and hands that same list to the api: one walk."""
    import faceveil.pipeline.paths as paths

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(astronaut).save(folder / "a.png")
    Image.fromarray(astronaut[:, ::-1]).save(folder / "sub" / "b.png")
    walks = []
    real = paths.expand_inputs
    monkeypatch.setattr(paths, "expand_inputs", lambda inputs, *a, **k: walks.append(list(inputs)) or real(inputs, *a, **k))
    assert run("anonymize", folder, "-o", tmp_path / "out") == 0
    assert walks == [[folder]]
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == ["a.png", "sub/b.png"]
    assert run("recover", tmp_path / "out", "-o", tmp_path / "back") == 0
    assert walks == [[folder], [tmp_path / "out"]]
    assert np.array_equal(pixels(tmp_path / "back" / "sub" / "b.png"), astronaut[:, ::-1])
    capsys.readouterr()


@pytest.fixture
def clip(tmp_path):
    from faceveil.testing import write_synthetic_clip

    return write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.4)


def _frames(path: Path) -> list[np.ndarray]:
    from faceveil.io.video import iter_frames

    return [f.rgb for f in iter_frames(path)]


def test_video_mask_boxes_draw_boxes_and_exact_recovery(tmp_path, clip, passphrase, capsys):
    from faceveil.api import inspect

    # a hand-added face from frame 6 on (the look-ahead also covers the two frames before it)
    extra_box = {"box": [4, 4, 60, 70], "first_frame": 6}
    (tmp_path / "boxes.json").write_text(json.dumps({"faces": [extra_box]}))
    out, back = tmp_path / "out.mkv", tmp_path / "back.mkv"
    code = run("anonymize", clip.path, "-o", out, "--lossless", "--boxes", tmp_path / "boxes.json", "--draw-boxes",
               "--scale", "320x240", "--threads", "1")
    assert code == 0
    original, anonymized = _frames(clip.path), _frames(out)
    corner = (slice(20, 50), slice(15, 50))
    assert len(original) == 10
    assert all(np.array_equal(original[k][corner], anonymized[k][corner]) for k in (0, 1, 2, 3))
    assert all(not np.array_equal(original[k][corner], anonymized[k][corner]) for k in (6, 7, 8, 9))
    assert any(_has_colour(f, DETECTED_COLOUR) for f in anonymized)
    info = inspect(out)
    assert info["container"]["extra"]["mask"] == {"shape": "ellipse", "scale": DEFACE_MASK_SCALE, "feather": 0.15}
    assert run("recover", out, "-o", back) == 0
    assert all(np.array_equal(a, b) for a, b in zip(original, _frames(back)))


def test_video_preview_draws_tracks_and_writes_no_payload(tmp_path, clip, monkeypatch, capsys):
    from faceveil.api import inspect

    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    out = tmp_path / "clip.preview.mkv"
    capsys.readouterr()
    assert run("anonymize", clip.path, "-o", out, "--preview") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.preview.mkv"]
    assert inspect(out)["payload"] is None
    original, preview = _frames(clip.path), _frames(out)
    assert len(preview) == len(original)
    x0, y0, x1, y1 = clip.face_boxes[len(original) // 2]
    middle = preview[len(original) // 2]
    inner = (slice(y0 + 30, y1 - 30), slice(x0 + 25, x1 - 25))  # the face itself is not anonymized
    assert np.abs(middle[inner].astype(int) - original[len(original) // 2][inner].astype(int)).mean() < 6
    err = capsys.readouterr().err
    assert "preview" in err and re.search(r"done: clip\.mp4: \d+/\d+ frames", err)


def test_docs_eval_examples_parse_as_written(monkeypatch, tmp_path):
    """Every `faceveil eval` line of docs/eval.md is accepted by the CLI as written (nothing is evaluated)."""
    import shlex

    import faceveil.eval.cli as eval_cli

    requests = []
    monkeypatch.setattr(eval_cli, "run_eval", lambda request: requests.append(request) or "ok")
    lines = [line.split("#")[0] for line in (ROOT / "docs" / "eval.md").read_text().splitlines() if line.startswith("faceveil eval ")]
    assert len(lines) >= 4
    for line in lines:
        assert run(*shlex.split(line)[1:]) == 0, line
    detail = next(r for r in requests if r.out == Path("mosaic-detail"))
    assert detail.methods == ("mosaic", "mosaic:detail=1")
    assert [label for label, _, _ in detail.method_runs()] == ["mosaic", "mosaic:detail=1"]
    assert [options for _, _, options in detail.method_runs()] == [{}, {"detail": 1}]
    pixelate = next(r for r in requests if r.method == "pixelate")
    assert (pixelate.shape, pixelate.mask_scale, pixelate.threshold) == ("box", 1.6, 0.4)


def test_preview_json_is_a_boxes_file(tmp_path, hopper_jpg, passphrase, capsys):
    """The loop the boxes schema is for: --preview --json, edit, --boxes."""
    preview = anonymize_json(capsys, hopper_jpg, "--preview", "-o", tmp_path / "p.preview.jpg")
    assert preview["files"][0]["payload_bytes"] == 0 and preview["files"][0]["payload"] == []
    preview["files"][0]["faces"].append({"box": [10, 10, 90, 110]})  # the edit: one more face
    (tmp_path / "boxes.json").write_text(json.dumps(preview))
    report = anonymize_json(capsys, hopper_jpg, "-o", tmp_path / "a.png", "--boxes", tmp_path / "boxes.json")["files"][0]
    assert report["face_count"] == 2 and report["faces"][1]["box"] == [10, 10, 90, 110]
