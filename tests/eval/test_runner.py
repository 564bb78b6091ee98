"""The runner on hand-built EvalItems: wrong-key, recovery and diversity paths, and the t-SNE plot."""

import math

import cv2
import numpy as np
import pytest

from faceveil.eval.report import write_plots
from faceveil.eval.runner import EvalConfig, evaluate, face_region, recovery_metrics
from faceveil.testing import load_sample
from faceveil.eval.sources import EvalItem
from faceveil.faces.types import Face

ASTRONAUT_FACE = Face(box=(175.0, 76.0, 265.0, 166.0))  # dlib HOG's box on skimage's astronaut


def test_face_region_grows_and_clips():
    assert face_region(Face(box=(10, 10, 20, 30)), (100, 100, 3), 0.5) == (5, 0, 25, 40)
    assert face_region(Face(box=(90, 90, 99, 99)), (95, 100, 3), 0.2) == (88, 88, 100, 95)


def test_recovery_metrics_on_face_region_only():
    img = load_sample("astronaut")
    changed = img.copy()
    changed[0:20, 0:20] = 0  # outside the face region: must not count
    exact = recovery_metrics(img, changed, ASTRONAUT_FACE)
    assert exact["mae"] == 0.0 and exact["psnr"] == 100.0 and exact["ssim"] == pytest.approx(1.0)
    shifted = img.astype(np.int16)
    shifted[40:190, 150:290] += 4  # covers the region (box +- 20 % = 157..283 x 58..184)
    off = recovery_metrics(img, np.clip(shifted, 0, 255).astype(np.uint8), ASTRONAUT_FACE)
    assert off["mae"] == pytest.approx(4.0, abs=0.1)
    assert off["psnr"] == pytest.approx(10 * math.log10(255**2 / 16), abs=0.3)


def test_wrong_key_and_diversity_paths_and_tsne_plot(tmp_path):
    img = load_sample("astronaut")
    x0, y0, x1, y1 = (int(v) for v in ASTRONAUT_FACE.box)
    blurred = img.copy()
    blurred[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 8)
    noise = img.copy()
    noise[y0:y1, x0:x1] = np.random.default_rng(0).integers(0, 255, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    grace = load_sample("grace_hopper")[139:325, 180:366]
    swapped = img.copy()
    swapped[y0:y1, x0:x1] = cv2.resize(grace, (x1 - x0, y1 - y0))
    item = EvalItem(
        "astronaut", img, blurred, [ASTRONAUT_FACE], recovered=img.copy(), recovery_kind="pixels", wrong_key=noise,
        variants=[blurred, noise, swapped, img.copy()],
    )
    config = EvalConfig(recognizers=("dlib",), detectors=("haar",), landmarks68=False, facemesh=False)
    result = evaluate([item], config)
    row = result.per_face[0]
    assert row["identity.recovered.dlib"] == pytest.approx(1.0, abs=1e-6)
    assert row["identity.wrong_key.dlib"] < row["identity.recovered.dlib"] - 0.1
    assert row["wrong_key.psnr"] < 15 and row["recovery.psnr"] == 100.0
    assert row["diversity.dlib"] > 0.02  # four different faces, one of them the original
    assert len(result.diversity_points["dlib"]) == 4
    plots = write_plots(result, tmp_path)
    assert {p.name for p in plots} >= {"identity.png", "diversity_tsne_dlib.png"}
    assert all(p.stat().st_size > 1000 for p in plots)


def test_no_faces_is_reported_not_crashed():
    img = load_sample("astronaut")
    result = evaluate([EvalItem("empty", img, img, [])], EvalConfig(recognizers=("dlib",), detectors=(), landmarks68=False, facemesh=False))
    assert result.per_face == [] and any("no face" in n for n in result.notes)


def test_obfuscated_reference_of_a_hiding_method():
    """PRO-Face S hides the face in an obfuscation of it; the reference reproduces that obfuscation
    (no weights needed: only the method's obfuscation settings are used)."""
    from faceveil.crypto.envelope import ContentKey
    from faceveil.eval.sources import MethodSource
    from faceveil.pipeline import face_contexts

    source = MethodSource("proface-s", {"obfuscation": "pixelate"})
    img = load_sample("astronaut")
    faces = source.detector.detect(img)
    contexts = face_contexts(faces, ContentKey.generate())
    ref = source.obfuscated_reference(img, faces, contexts)
    assert ref is not None and ref.shape == img.shape
    x0, y0, x1, y1 = face_region(faces[0], img.shape, 0.0)
    inside = np.abs(ref[y0:y1, x0:x1].astype(int) - img[y0:y1, x0:x1]).mean()
    assert inside > 5  # the face is pixelated
    np.testing.assert_array_equal(ref[400:, :100], img[400:, :100])  # far from the face: untouched
    np.testing.assert_array_equal(ref, source.obfuscated_reference(img, faces, contexts))  # same seeds, same image
    assert MethodSource("blur").obfuscated_reference(img, faces, contexts) is None  # no hiding: no reference


def test_protected_vs_obfuscated_metrics():
    img = load_sample("astronaut")
    x0, y0, x1, y1 = (int(v) for v in ASTRONAUT_FACE.box)
    obfuscated = img.copy()
    obfuscated[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 6)
    protected = np.clip(obfuscated.astype(int) + 2, 0, 255).astype(np.uint8)  # hides data as a faint change
    item = EvalItem("astronaut", img, protected, [ASTRONAUT_FACE], obfuscated=obfuscated)
    result = evaluate([item], EvalConfig(recognizers=("dlib",), detectors=(), landmarks68=False, facemesh=False))
    row = result.per_face[0]
    assert row["protected_vs_obfuscated.mae"] == pytest.approx(2.0, abs=0.05)
    assert row["protected_vs_obfuscated.psnr"] > 40
    assert row["identity.obfuscated.dlib"] == pytest.approx(row["identity.anonymized.dlib"], abs=0.02)


@pytest.mark.slow  # >= 10 s on 2 shared cores (--durations)
def test_lpips_and_fid_run_when_weight_files_are_supplied(monkeypatch, tmp_path):
    """Stand-in weight files with the official layouts (random values) exercise loading and the
    report path; the numbers themselves are meaningless here."""
    import torch
    from torchvision.models import alexnet

    from faceveil.analysis import perceptual as P

    torch.manual_seed(0)
    torch.save(P.build_fid_inception().state_dict(), tmp_path / P.FID_INCEPTION_FILE)
    features_only = {k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    torch.save(features_only, tmp_path / P.ALEXNET_FILE)  # the classifier (240 MB) is never used
    _, heads = P.build_lpips()
    torch.save(heads.state_dict(), tmp_path / P.LPIPS_ALEX_FILE)
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))

    img = load_sample("astronaut")
    blurred = cv2.GaussianBlur(img, (0, 0), 5)
    faces = [ASTRONAUT_FACE, Face(box=(300.0, 300.0, 380.0, 380.0))]  # two crops: FID needs >= 2
    item = EvalItem("astronaut", img, blurred, faces, recovered=img.copy(), recovery_kind="payload")
    result = evaluate([item], EvalConfig(recognizers=("dlib",), detectors=(), landmarks68=False, facemesh=False))
    assert result.per_face[0]["lpips.recovered"] == pytest.approx(0.0, abs=1e-6)
    assert "lpips.anonymized" in result.per_face[0]
    assert math.isfinite(result.dataset["fid"])
    assert "fid" in result.models and not any("FID not computed" in n for n in result.notes)


def test_seeded_method_source_is_reproducible():
    from faceveil.eval.sources import MethodSource

    img = load_sample("astronaut")
    first = MethodSource("mosaic", seed=7).item("a", img).anonymized
    again = MethodSource("mosaic", seed=7).item("a", img).anonymized
    other = MethodSource("mosaic", seed=8).item("a", img).anonymized
    np.testing.assert_array_equal(first, again)
    assert np.any(first != other)  # the noisy mosaic draws its noise from the content key
