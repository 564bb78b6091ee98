"""PRO-Face S pixel-only mode end to end (issue 11): `anonymize --method proface-s --payload none` with a
passphrase, then `recover --from-pixels` from a copy whose metadata and chunks were all stripped, on
real photos with 1 to 6 faces; wrong key, altered pixels, JPEG copy; soft edges; compat hygiene."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.errors import InputError, KeyMaterialError, PayloadMissingError, TamperedPixelsError, WrongKeyError


def run(*args) -> int:
    return main([str(a) for a in args])


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def psnr(a, b) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def strip_to(src, dst, fmt: str, **kw) -> None:
    """Re-save only the pixels (no chunk, no metadata) in another lossless format."""
    Image.fromarray(pixels(src)).save(dst, fmt, **kw)


def composite(n: int) -> np.ndarray:
    """n real faces (astronaut, Grace Hopper alternating) tiled 3 per row, 256 px each."""
    from faceveil.testing import load_sample

    tiles = [np.asarray(Image.fromarray(load_sample("astronaut")[:400, 60:460]).resize((256, 256))),
             np.asarray(Image.fromarray(load_sample("grace_hopper")[:480, :]).resize((256, 256)))]
    cols, rows = min(n, 3), -(-n // 3)
    canvas = np.full((rows * 256, cols * 256, 3), 200, np.uint8)
    for i in range(n):
        r, c = divmod(i, 3)
        canvas[r * 256 : (r + 1) * 256, c * 256 : (c + 1) * 256] = tiles[i % 2]
    return canvas


@pytest.fixture
def pwfile(tmp_path):
    path = tmp_path / "pw.txt"
    path.write_text("correct horse battery staple\n")
    return path


@pytest.fixture
def protected(tmp_path, astronaut_png, pwfile, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    out = tmp_path / "protected.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "--payload", "none",
               "--password-file", pwfile) == 0
    return out


def test_recovers_from_stripped_lossless_copies(tmp_path, protected, astronaut, pwfile, capsys):
    from faceveil.api import inspect
    from faceveil.io.carriers import extract_payload

    assert extract_payload(protected.read_bytes()) is None  # no container anywhere
    assert inspect(protected)["payload"] is None and inspect(protected)["pixel_locator"] == "bottom"
    assert run("inspect", protected) == 0 and "pixel-only locator: yes" in capsys.readouterr().out
    face = (slice(40, 200), slice(170, 290))
    assert psnr(pixels(protected)[face], astronaut[face]) < 22  # hidden behind the cover
    for name, fmt, kw in (("c.png", "PNG", {}), ("c.webp", "WEBP", {"lossless": True}), ("c.tiff", "TIFF", {}),
                          ("c.bmp", "BMP", {})):
        copy, back = tmp_path / name, tmp_path / f"back-{name}.png"
        strip_to(protected, copy, fmt, **kw)
        assert run("recover", copy, "-o", back, "--from-pixels", "--password-file", pwfile) == 0, name
        assert psnr(pixels(back)[face], astronaut[face]) > 32, name  # the network's recovery (37.6 dB)


def test_wrong_passphrase_altered_pixels_and_jpeg_copy_are_clear_errors(tmp_path, protected, pwfile, capsys):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("correct horse battery stapler\n")
    assert run("recover", protected, "-o", tmp_path / "w.png", "--from-pixels", "--password-file", wrong) == WrongKeyError.exit_code
    jpeg = tmp_path / "copy.jpg"
    Image.fromarray(pixels(protected)).save(jpeg, quality=98)
    capsys.readouterr()
    assert run("recover", jpeg, "-o", tmp_path / "j.png", "--from-pixels", "--password-file", pwfile) == TamperedPixelsError.exit_code
    assert "pixels were altered; pixel-only recovery needs a lossless copy" in capsys.readouterr().err
    resized = tmp_path / "small.png"
    Image.fromarray(pixels(protected)).resize((384, 384)).save(resized)
    assert run("recover", resized, "-o", tmp_path / "r.png", "--from-pixels", "--password-file", pwfile) == TamperedPixelsError.exit_code
    edited = tmp_path / "edited.png"
    arr = pixels(protected)
    arr[120, 230] = 255 - arr[120, 230]  # one pixel of the face
    Image.fromarray(arr).save(edited)
    assert run("recover", edited, "-o", tmp_path / "e.png", "--from-pixels", "--password-file", pwfile) == TamperedPixelsError.exit_code
    for bad in ("w.png", "j.png", "r.png", "e.png"):
        assert not (tmp_path / bad).exists()  # never a garbled face written as success
    # without --from-pixels: say where the key material is
    assert run("recover", protected, "-o", tmp_path / "x.png", "--password-file", pwfile) == PayloadMissingError.exit_code
    assert "--from-pixels" in capsys.readouterr().err


def test_lossy_output_is_refused(tmp_path, astronaut_png, pwfile):
    code = run("anonymize", astronaut_png, "-o", tmp_path / "o.jpg", "--method", "proface-s", "--payload", "none",
               "--password-file", pwfile)
    assert code == InputError.exit_code and not (tmp_path / "o.jpg").exists()


def test_passphrase_never_on_argv_and_required(tmp_path, astronaut_png, monkeypatch):
    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    code = run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--method", "proface-s", "--payload", "none")
    assert code == KeyMaterialError.exit_code  # stdin is not a terminal: no prompt, a clear error


@pytest.mark.parametrize("n", [1, 2, 6])
def test_composites_with_one_to_six_faces_through_the_python_api(tmp_path, n):
    import faceveil

    src = tmp_path / f"group{n}.png"
    original = composite(n)
    Image.fromarray(original).save(src)
    out, copy, back = tmp_path / "o.png", tmp_path / "copy.bmp", tmp_path / "back.png"
    [report] = faceveil.anonymize(src, out, method="proface-s", output_options=faceveil.OutputOptions(payload="none"),
                                   keys=faceveil.KeyOptions(passphrase="pw for the group"))
    assert report.ok and report.payload == ["pixels"], report.error
    rects = [f["rect"] for f in report.faces if f["method"] == "proface-s"]
    assert len(rects) == n
    strip_to(out, copy, "BMP")
    [rep] = faceveil.recover(copy, back, passphrase="pw for the group", from_pixels=True)
    assert rep.ok, rep.error
    restored = pixels(back)
    recovered = []
    for x, y, w, h in rects:
        region = (slice(y, y + h), slice(x, x + w))
        assert psnr(pixels(out)[region], original[region]) < 25
        recovered.append(psnr(restored[region], original[region]))
    # the model card's recovery bar (32 dB) is a mean; single faces go lower (worst measured 27.9 dB at
    # 256 px: grace_hopper behind the median cover), so each face gets a floor of 30 dB here
    assert np.mean(recovered) > 32 and min(recovered) > 30, recovered
    [bad] = faceveil.recover(copy, tmp_path / "bad.png", passphrase="not it", from_pixels=True)
    assert not bad.ok and bad.exit_code == WrongKeyError.exit_code


def test_locator_does_not_change_recovery_when_it_must_touch_a_face(astronaut):
    """A face in every band: the locator then writes +-1 into the face region; recovery is unchanged."""
    from faceveil.crypto.keys import Argon2Params, PassphraseKey
    from faceveil.crypto.pixel_locator import embed, new_image_keys
    from faceveil.faces.types import Face
    from faceveil.methods.base import FaceContext, create_method

    method = create_method("proface-s", obfuscation="blur")
    key = PassphraseKey.create("pw", Argon2Params(1, 1024, 1), allow_weak=True)
    key, salt, keys = new_image_keys(key)
    crop = astronaut[:256, 128:384]  # the "face region" spans the top rows
    ctx = [FaceContext(face=Face(box=(0, 0, 256, 256)), index=0, seed=1,
                       derive_secret=lambda label, n: keys.content_key.derive(f"face/0/{label}", n))]
    protected = method.anonymize([crop], ctx)[0]
    image = protected.copy()
    marked = embed(image, {"faces": [], "shape": list(image.shape)}, key, salt, keys, avoid=[(0, 0, 256, 256)])
    assert (marked != protected).any()  # it did write into the region
    plain = method.recover([protected], ctx)[0]
    with_locator = method.recover([marked], ctx)[0]
    assert abs(psnr(with_locator, crop) - psnr(plain, crop)) < 0.1


def test_soft_edge_has_no_hard_rectangle(tmp_path, protected, astronaut):
    from faceveil.methods.proface_s.method import feathered_ellipse

    alpha = feathered_ellipse(64, 48)
    assert alpha[32, 24] == pytest.approx(1.0) and alpha[0, 0] == 0 and alpha[0, 24] < 0.15 and alpha[32, 0] < 0.15
    assert alpha[32, 3] == pytest.approx(1.0)  # full cover out to 0.9 of the radius (issue 20: was 0.7)
    out = pixels(protected)
    diff = np.abs(out.astype(int) - astronaut).sum(-1)
    ys, xs = np.nonzero(diff > 30)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    # corners of the changed area are (nearly) the photo; the centre is the cover
    corner = diff[y0 : y0 + 8, x0 : x0 + 8].mean()
    centre = diff[(y0 + y1) // 2 - 4 : (y0 + y1) // 2 + 4, (x0 + x1) // 2 - 4 : (x0 + x1) // 2 + 4].mean()
    assert corner < 10 < centre


def test_compat_password_never_from_argv_and_warns(tmp_path, astronaut_png, passphrase, capsys, monkeypatch):
    out = tmp_path / "c.png"
    code = run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "-O", "key_mode=compat", "-O", "password=s3cret")
    assert code == KeyMaterialError.exit_code and "never go on the command line" in capsys.readouterr().err
    pw = tmp_path / "compat.txt"
    pw.write_text("s3cret\n")
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "-O", "key_mode=compat",
               "--compat-password-file", pw) == 0
    err = capsys.readouterr().err
    assert "warning: PRO-Face S compat mode uses the paper's weak key derivation" in err
    # recovery from the pixels reads it from the same sources
    monkeypatch.setenv("FACEVEIL_COMPAT_PASSWORD", "s3cret")
    assert run("recover", out, "-o", tmp_path / "b.png", "--from-pixels") == 0
    monkeypatch.setenv("FACEVEIL_COMPAT_PASSWORD", "s3cres")
    assert run("recover", out, "-o", tmp_path / "w.png", "--from-pixels") == WrongKeyError.exit_code
    monkeypatch.delenv("FACEVEIL_COMPAT_PASSWORD")
    capsys.readouterr()
    assert run("recover", out, "-o", tmp_path / "n.png", "--from-pixels") == KeyMaterialError.exit_code
    assert "--compat-password-file" in capsys.readouterr().err


def test_video_pixel_only_is_a_clear_error(tmp_path, pwfile, monkeypatch, capsys):
    from faceveil.testing import write_synthetic_clip

    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    clip = tmp_path / "clip.mp4"
    write_synthetic_clip(clip, seconds=0.2, audio_codec=None)
    code = run("anonymize", clip, "-o", tmp_path / "out.mkv", "--method", "proface-s", "--payload", "none",
               "--password-file", pwfile, "--lossless")
    assert code == InputError.exit_code and not (tmp_path / "out.mkv").exists()
    assert "pixel-only mode (--payload none with a passphrase) is for photos" in capsys.readouterr().err


def test_eval_on_a_folder_of_proface_s_outputs(tmp_path, pwfile, monkeypatch):
    """`faceveil eval --anonymized` on PRO-Face S pixel-only outputs and their from-pixels recoveries."""
    import json

    from faceveil.testing import load_sample

    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    data, anon, back = tmp_path / "data", tmp_path / "anon", tmp_path / "back"
    for d in (data, anon, back):
        d.mkdir()
    for name in ("astronaut", "grace_hopper"):
        Image.fromarray(load_sample(name)).save(data / f"{name}.png")
    assert run("anonymize", data, "-o", anon, "--method", "proface-s", "--payload", "none", "--password-file", pwfile) == 0
    assert run("recover", anon, "-o", back, "--from-pixels", "--password-file", pwfile) == 0
    out = tmp_path / "report"
    assert run("eval", "--anonymized", anon, "--recovered", back, "--data", data, "--out", out, "--recognizer", "dlib",
               "--detector", "haar", "--no-facemesh", "--no-landmarks68") == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["identity.anonymized.dlib"]["n"] == 2
    assert metrics["recovery.psnr"]["mean"] > 30  # whole images: most pixels untouched, faces ~37 dB
    assert metrics["identity.recovered.dlib"]["mean"] > metrics["identity.anonymized.dlib"]["mean"]


def test_pixel_only_on_the_ray_engine_is_a_clear_error(tmp_path, astronaut_png, pwfile, capsys):
    code = run("anonymize", astronaut_png, "-o", tmp_path / "o.png", "--method", "proface-s", "--payload", "none",
               "--password-file", pwfile, "--engine", "ray")
    assert code == InputError.exit_code and "--engine local only" in capsys.readouterr().err


def test_pixel_only_recovery_restores_only_the_area_a_non_default_mask_changed(tmp_path, astronaut_png, astronaut,
                                                                                 pwfile, monkeypatch):
    """--shape ellipse --mask-scale 1.5 -O edge=hard: the locator records the mask (the rects carry the
    scale, the params the edge), so recovery blends the network's output with the same ellipse: the
    original pixels the ellipse left alone in each rectangle's corners come back untouched."""
    from faceveil.api import make_identities
    from faceveil.crypto.pixel_locator import open_locator
    from faceveil.faces.mask import MaskSpec
    from faceveil.methods.base import create_method
    from faceveil.pipeline.frame import face_from_dict, method_region_rect

    monkeypatch.delenv("FACEVEIL_PASSPHRASE", raising=False)
    out, back = tmp_path / "p.png", tmp_path / "back.png"
    assert run("anonymize", astronaut_png, "-o", out, "--method", "proface-s", "--payload", "none", "--shape", "ellipse",
               "--mask-scale", "1.5", "-O", "edge=hard", "--password-file", pwfile) == 0
    anon = pixels(out)
    record = open_locator(anon, make_identities("correct horse battery staple")).record
    mask = MaskSpec("ellipse", 1.5)
    assert record["mask"] == mask.to_dict() and record["params"]["edge"] == "hard" and record["faces"]
    assert run("recover", out, "-o", back, "--from-pixels", "--password-file", pwfile) == 0
    restored = pixels(back)
    left_alone, proface = 0, create_method("proface-s")
    for f in record["faces"]:
        x, y, w, h = f["rect"]
        face = face_from_dict({"box": f["box"]})
        assert tuple(f["rect"]) == method_region_rect(face, astronaut.shape, proface, mask)  # the --mask-scale region
        outside = mask.region_alpha(face, (x, y, w, h)) == 0
        region = (slice(y, y + h), slice(x, x + w))
        assert np.array_equal(anon[region][outside], astronaut[region][outside])  # anonymization left them alone
        assert np.array_equal(restored[region][outside], astronaut[region][outside])  # and so does recovery
        assert not np.array_equal(restored[region][~outside], anon[region][~outside])  # the inside is recovered
        left_alone += int(outside.sum())
    assert left_alone > 1000  # the ellipse's corners: a real test, not an empty one
