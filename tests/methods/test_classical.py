import json
import time

import cv2
import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.testing import load_sample
from faceveil.faces.align import region_rect
from faceveil.faces.detect import CenterFaceDetector
from faceveil.faces.types import Face
from faceveil.methods.base import FaceContext, available_methods, create_method
from faceveil.methods.classical import (
    BlurConfig,
    GaussianBlurMethod,
    MedianMethod,
    MosaicMethod,
    PixelateMethod,
    SolidMethod,
    MosaicConfig,
    PixelateConfig,
    SolidConfig,
    gaussian_blur,
    median_blur,
    noisy_mosaic,
    pixelate,
)

# Most tests build methods directly (no registry import of the torch-based methods); the registry path
# is covered by the registration, params round-trip and option-error tests.
CLASSES = {"blur": GaussianBlurMethod, "median": MedianMethod, "pixelate": PixelateMethod, "solid": SolidMethod, "mosaic": MosaicMethod}
METHODS = list(CLASSES)
SEEDED = ["blur", "mosaic"]  # methods that draw randomness from the seed


@pytest.fixture(scope="module")
def astronaut_region():
    """(rgb, face, rect, region crop) of the astronaut's face as the pipeline would cut it."""
    rgb = load_sample("astronaut")
    face = max(CenterFaceDetector().detect(rgb), key=lambda f: f.score)
    x, y, w, h = region_rect(face, rgb.shape)
    return rgb, face, (x, y, w, h), rgb[y : y + h, x : x + w].copy()


def run(method_name: str, crop: np.ndarray, seed: int = 7, **options) -> np.ndarray:
    context = FaceContext(face=Face(box=(0, 0, crop.shape[1], crop.shape[0])), index=0, seed=seed)
    (out,) = CLASSES[method_name](**options).anonymize([crop], [context])
    return out


def high_pass(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return grey - cv2.GaussianBlur(grey, (0, 0), 2.0)


def test_all_classical_methods_are_registered():
    assert set(METHODS) <= set(available_methods())
    for name, cls in CLASSES.items():
        method = create_method(name)
        assert type(method) is cls and method.name == name and method.space == "region"


@pytest.mark.parametrize("name", METHODS)
def test_method_destroys_the_face_detail(astronaut_region, name):
    *_, crop = astronaut_region
    out = run(name, crop)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - crop).mean() > 8
    # the original's fine detail (eyes, lips, hair edges) is gone: its high-pass no longer correlates
    original_detail, kept_detail = high_pass(crop).ravel(), high_pass(out).ravel()
    # (a median filter keeps strong edges such as the hairline by design, hence its looser bound)
    bound = 0.6 if name == "median" else 0.25
    if kept_detail.std() > 0:
        assert abs(np.corrcoef(original_detail, kept_detail)[0, 1]) < bound


@pytest.mark.parametrize("name", METHODS)
def test_method_is_deterministic_per_seed(astronaut_region, name):
    *_, crop = astronaut_region
    assert np.array_equal(run(name, crop, seed=1), run(name, crop, seed=1))
    if name in SEEDED:
        assert not np.array_equal(run(name, crop, seed=1), run(name, crop, seed=2))


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (57, 31), (400, 400)])
def test_method_preserves_shape_and_dtype(name, shape):
    crop = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = run(name, crop)
    assert out.shape == crop.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", ["blur", "median", "pixelate"])
def test_parameters_scale_with_region_size(astronaut_region, name):
    """Obfuscating a 2x larger region then shrinking it ~= obfuscating the small one; a kernel that did not
    scale (the reference parameters applied at the larger size) is much further off."""
    *_, crop = astronaut_region
    small = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
    large = cv2.resize(small, (256, 256), interpolation=cv2.INTER_NEAREST)
    expected = run(name, small).astype(float)
    scaled = cv2.resize(run(name, large), (128, 128), interpolation=cv2.INTER_AREA).astype(float)
    unscaled_options = {"blur": {"reference_size": 128}, "median": {"reference_size": 128}, "pixelate": {"reference_size": 128}}
    unscaled = cv2.resize(run(name, large, **unscaled_options[name]), (128, 128), interpolation=cv2.INTER_AREA)
    error_scaled = np.abs(scaled - expected).mean()
    error_unscaled = np.abs(unscaled.astype(float) - expected).mean()
    assert error_scaled < 0.5 * error_unscaled
    if name == "pixelate":  # block means of nearest-upscaled blocks are exact
        assert np.array_equal(run(name, large)[::2, ::2], run(name, small))


def test_mosaic_has_a_fixed_coarse_grid_at_any_resolution(astronaut_region):
    *_, crop = astronaut_region
    for side in (40, 137, 600):
        region = cv2.resize(crop, (side, side))
        out = run("mosaic", region)
        for line in (out[side // 2], out[:, side // 2]):
            changes = np.count_nonzero(np.any(np.diff(line.astype(int), axis=0) != 0, axis=1))
            assert changes <= 7, f"{changes + 1} cells across a {side} px region"


def test_mosaic_cell_colours_are_noisy_not_the_cell_means():
    # left half 60, right half 200: every cell mean is 60 or 200 (or their mix at the seam)
    halves = np.full((140, 140, 3), 60, np.uint8)
    halves[:, 70:] = 200
    out = noisy_mosaic(halves, cells=7, noise=24.0, rng=np.random.default_rng(3)).astype(float)
    assert 12 < np.abs(out[:, :40] - 60).mean() < 40  # the noise, not the means, decides the colours
    assert np.array_equal(noisy_mosaic(halves, 7, 0.0, np.random.default_rng(3))[:, :40], halves[:, :40])
    flat = np.full((140, 140, 3), 100, np.uint8)  # no colour range to move in: a flat region stays flat
    assert np.array_equal(noisy_mosaic(flat, 7, 24.0, np.random.default_rng(3)), flat)


def test_mosaic_keeps_a_grey_face_grey_and_inside_the_face_colours(astronaut_region):
    """Issue 20: the noise is shared by the channels (no purple / green cells on a grey face) and no cell
    leaves the region's colour range (no white or blue cells on a colour face)."""
    *_, crop = astronaut_region
    grey = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    for seed in range(5):
        out = run("mosaic", grey, seed=seed).astype(int)
        assert np.ptp(out, axis=2).max() == 0  # channel spread 0, as in the original
        colour = run("mosaic", crop, seed=seed).reshape(-1, 3)
        low, high = np.percentile(crop.reshape(-1, 3), 1, axis=0), np.percentile(crop.reshape(-1, 3), 99, axis=0)
        assert (colour >= np.floor(low)).all() and (colour <= np.ceil(high)).all()


def test_mosaic_is_not_recognisable_by_dlib(astronaut_region):
    from faceveil.analysis.dlib_models import DlibRecognizer

    rgb, face, (x, y, w, h), crop = astronaut_region
    recognizer = DlibRecognizer()
    for seed in (0, 1):
        anonymized = rgb.copy()
        anonymized[y : y + h, x : x + w] = run("mosaic", crop, seed=seed)
        assert recognizer.distance(rgb, face, anonymized, face) > 0.6
    # sanity check that the recognizer does match the untouched face to itself / a mild change
    assert recognizer.distance(rgb, face, cv2.GaussianBlur(rgb, (3, 3), 0.8), face) < 0.3


def test_solid_uses_the_configured_colour(astronaut_region):
    *_, crop = astronaut_region
    assert (run("solid", crop) == 128).all()
    assert (run("solid", crop, colour=[10, 20, 30]) == np.array([10, 20, 30], np.uint8)).all()


@pytest.mark.parametrize("name", METHODS)
def test_params_are_json_and_recreate_the_method(name):
    method = create_method(name)
    params = json.loads(json.dumps(method.params()))
    assert create_method(name, **params).config == method.config


@pytest.mark.parametrize(
    "name,options",
    [
        ("blur", {"kernel": 60}),
        ("blur", {"sigma_range": [5, 1]}),
        ("median", {"kernel": -3}),
        ("pixelate", {"block": 0}),
        ("solid", {"colour": [300, 0, 0]}),
        ("mosaic", {"cells": 1}),
        ("mosaic", {"noise": -1}),
        ("mosaic", {"no_such_option": 1}),
    ],
)
def test_bad_options_raise_input_error(name, options):
    with pytest.raises(InputError):
        create_method(name, **options)


def test_config_and_options_are_exclusive():
    with pytest.raises(InputError):
        create_method("pixelate", config=PixelateConfig(), block=4)
    assert create_method("pixelate", config=PixelateConfig(block=4)).config.block == 4


def test_bad_crops_raise_input_error():
    method = create_method("mosaic")
    context = FaceContext(face=Face(box=(0, 0, 1, 1)), index=0, seed=0)
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((0, 5, 3), np.uint8)):
        with pytest.raises(InputError):
            method.anonymize([bad], [context])
    with pytest.raises(InputError):
        method.anonymize([np.zeros((4, 4, 3), np.uint8)], [])


def test_pure_functions_on_256_crops_match_their_definitions():
    crop = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    blurred = gaussian_blur(crop, 61, 9.0)
    reference = cv2.GaussianBlur(crop, (61, 61), 9.0, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(blurred.astype(int) - reference).max() <= 1
    assert np.array_equal(median_blur(crop, 23), cv2.medianBlur(crop, 23))
    tiles = pixelate(crop, 20)
    assert np.array_equal(tiles[0, 0], np.rint(crop[:20, :20].reshape(-1, 3).mean(axis=0)).astype(np.uint8))
    assert np.array_equal(tiles[250, 250], np.rint(crop[240:, 240:].reshape(-1, 3).mean(axis=0)).astype(np.uint8))
    assert np.array_equal(pixelate(crop, 1), crop) and np.array_equal(median_blur(crop, 1), crop)
    for call in (lambda: gaussian_blur(crop, 60, 9.0), lambda: gaussian_blur(crop, 61, 0), lambda: median_blur(crop, 4), lambda: pixelate(crop, 0)):
        with pytest.raises(InputError):
            call()


def test_defaults_are_the_pro_face_s_parameters():
    assert BlurConfig().kernel == 61 and BlurConfig().sigma_range == (9.0, 21.0)
    assert create_method("median").config.kernel == 23 and PixelateConfig().block == 20
    assert SolidConfig().colour == (128, 128, 128) and 6 <= MosaicConfig().cells <= 8


@pytest.mark.parametrize("name", METHODS)
def test_methods_are_fast_on_a_400px_region(name):
    crop = np.random.default_rng(2).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    run(name, crop)  # warm up
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        run(name, crop)
        timings.append(time.perf_counter() - start)
    # budget is 20 ms; allow slack for a loaded shared CPU
    assert min(timings) < 0.06
