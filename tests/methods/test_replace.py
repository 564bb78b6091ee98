"""The ``replace`` method (deface's --replacewith img): an image pasted over each face, scaled to cover the
region with its aspect kept, alpha composited, honouring --shape/--mask-scale, exact recovery, clear errors
before any output; photos (astronaut with Grace Hopper's portrait) and a generated clip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import InputError, UsageError
from faceveil.faces.mask import MaskSpec
from faceveil.faces.types import Face
from faceveil.methods.base import FaceContext, create_method
from faceveil.methods.replace import ReplaceMethod, cover_crop
from faceveil.plugins import METHODS


def run(*args) -> int:
    return main([str(a) for a in args])


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def apply(method: ReplaceMethod, crop: np.ndarray) -> np.ndarray:
    context = FaceContext(face=Face(box=(0, 0, crop.shape[1], crop.shape[0])), index=0, seed=1)
    (out,) = method.anonymize([crop], [context])
    return out


@pytest.fixture
def hopper_png(tmp_path, grace_hopper):
    path = tmp_path / "hopper.png"
    Image.fromarray(grace_hopper).save(path)
    return path


def test_cover_keeps_the_aspect_and_crops_the_centre():
    # 40 x 20 image: left half red, right half blue, a green column in the middle
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20, 0] = 255
    img[:, 20:, 2] = 255
    img[:, 19:21] = (0, 255, 0)
    tall = cover_crop(img, 10, 20)  # 20 px high: no scaling, the 10 centre columns are kept
    assert tall.shape == (20, 10, 3)
    assert np.array_equal(tall, img[:, 15:25])
    wide = cover_crop(img, 80, 10)  # scaled x2 to cover 80 px wide, then the middle 10 rows are cut
    assert wide.shape == (10, 80, 3)
    assert (wide[:, :30, 0] == 255).all() and (wide[:, 50:, 2] == 255).all()  # not stretched: halves stay halves
    assert (wide[:, 39:41, 1] > 200).all()  # the green line stays in the middle


def test_rgba_is_composited_by_its_alpha_and_the_path_is_not_recorded(tmp_path, astronaut):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)
    rgba[:, :16, 3] = 255  # left half opaque red
    rgba[:, 16:, 3] = 0  # right half transparent
    path = tmp_path / "half.png"
    Image.fromarray(rgba, "RGBA").save(path)
    crop = astronaut[60:124, 180:244].copy()  # 64 x 64 of the face: the image is scaled x2
    out = apply(create_method("replace", image=str(path)), crop)
    assert (out[:, :30] == (255, 0, 0)).all()  # opaque: the image
    assert np.array_equal(out[:, 34:], crop[:, 34:])  # transparent: what is under it (documented)
    rgba[..., 3] = 128  # half transparent everywhere: a mix
    Image.fromarray(rgba, "RGBA").save(path)
    method = create_method("replace", image=str(path))
    mixed = apply(method, crop).astype(int)
    expected = np.rint(np.array([255, 0, 0]) * 128 / 255 + crop * (1 - 128 / 255))
    assert np.abs(mixed - expected).max() <= 1
    params = method.params()
    assert str(tmp_path) not in json.dumps(params) and params["fit"] == "cover" and params["image_size"] == [32, 32]
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((8, 8), 77, np.uint8)).save(gray)
    assert (apply(create_method("replace", image=str(gray)), crop) == 77).all()  # gray is replicated to RGB


def test_bad_replacement_images_are_clear_errors_before_any_output(tmp_path, astronaut_png, passphrase, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    out = tmp_path / "o.png"
    for bad in (tmp_path / "missing.png", tmp_path / "notes.txt", tmp_path):
        capsys.readouterr()
        assert run("anonymize", astronaut_png, "-o", out, "-m", "replace", "-O", f"image={bad}") == InputError.exit_code == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "replacement image (-O image=...)" in err and str(bad) in err
        assert not out.exists()
    assert run("anonymize", astronaut_png, "-o", out, "-m", "replace") == UsageError.exit_code  # no -O image
    assert "-O image=FILE" in capsys.readouterr().err
    assert run("anonymize", astronaut_png, "-o", out, "-m", "replace", "-O", "imgae=x.png") == UsageError.exit_code
    assert not out.exists()
    assert METHODS.get("replace").option_defaults() == {"image": None}  # the generated help's -O keys


@pytest.mark.parametrize("shape", ["box", "ellipse"])
def test_photo_honours_shape_and_mask_scale_and_recovers_exactly(tmp_path, astronaut_png, astronaut, hopper_png,
                                                                 grace_hopper, passphrase, capsys, shape):
    out, back = tmp_path / "o.png", tmp_path / "back.png"
    capsys.readouterr()
    assert run("anonymize", astronaut_png, "-o", out, "-m", "replace", "-O", f"image={hopper_png}", "--shape", shape,
               "--mask-scale", "1.5", "--json") == 0
    [face] = json.loads(capsys.readouterr().out)["files"][0]["faces"]
    x, y, w, h = face["rect"]
    mask = MaskSpec(shape, 1.5)
    detected = Face(box=tuple(face["box"]))
    assert (x, y, w, h) == mask.rect(detected, astronaut.shape)  # the --mask-scale region
    anon, expected = pixels(out), cover_crop(grace_hopper, w, h)
    region = anon[y : y + h, x : x + w]
    if shape == "box":
        assert np.array_equal(region, expected)  # the whole rectangle is the portrait
    else:
        alpha = mask.region_alpha(detected, (x, y, w, h))
        assert np.array_equal(region[alpha == 1], expected[alpha == 1])
        original = astronaut[y : y + h, x : x + w]
        assert np.array_equal(region[alpha == 0], original[alpha == 0]) and (alpha == 0).sum() > 1000
    outside = np.ones(astronaut.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(anon[outside], astronaut[outside])
    assert run("recover", out, "-o", back) == 0
    assert np.array_equal(pixels(back), astronaut)


def test_video_same_image_every_frame_and_exact_recovery(tmp_path, passphrase):
    from faceveil.io.video import iter_frames
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.4)
    logo = np.zeros((40, 40, 3), np.uint8)
    logo[..., 1] = 255  # opaque green
    Image.fromarray(logo).save(tmp_path / "logo.png")
    out, back = tmp_path / "out.mkv", tmp_path / "back.mkv"
    assert run("anonymize", clip.path, "-o", out, "--lossless", "-m", "replace", "-O", f"image={tmp_path / 'logo.png'}",
               "--shape", "box") == 0
    original = [f.rgb for f in iter_frames(clip.path)]
    anonymized = [f.rgb for f in iter_frames(out)]
    assert len(anonymized) == len(original) == clip.frames
    for frame, (x0, y0, x1, y1) in zip(anonymized, clip.face_boxes):
        centre = frame[(y0 + y1) // 2 - 5 : (y0 + y1) // 2 + 5, (x0 + x1) // 2 - 5 : (x0 + x1) // 2 + 5]
        assert (centre == (0, 255, 0)).all()  # the face is the image, in every frame
    assert run("recover", out, "-o", back) == 0
    assert all(np.array_equal(a, b) for a, b in zip(original, (f.rgb for f in iter_frames(back))))


def test_from_pixels_on_a_replace_output_says_it_hides_nothing(tmp_path, astronaut_png, hopper_png, passphrase, capsys):
    out = tmp_path / "o.png"
    assert run("anonymize", astronaut_png, "-o", out, "-m", "replace", "-O", f"image={hopper_png}") == 0
    capsys.readouterr()
    assert run("recover", out, "-o", tmp_path / "b.png", "--from-pixels") == InputError.exit_code
    assert "hides nothing in the pixels" in capsys.readouterr().err
