"""Anonymizer.process_files / anonymize_images: a batch of photos with one method call writes what
one-by-one process_file calls write (same seed), and a bad file fails alone.

Inputs: crops, flips and a two-face composite of skimage's astronaut and matplotlib's Grace Hopper,
plus a faceless gradient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.crypto.keys import X25519Identity
from faceveil.errors import InputError, NoFacesError
from faceveil.io.images import decode_image
from faceveil.pipeline.photo import Anonymizer, recover_image


def _images(astronaut: np.ndarray, hopper: np.ndarray) -> dict[str, np.ndarray]:
    a = astronaut[:320, 80:400]
    h = np.asarray(Image.fromarray(hopper[:400, 100:500]).resize((320, 320)))
    both = np.concatenate([a, h], axis=1)  # two faces in one image
    ramp = np.tile(np.linspace(0, 255, 200, dtype=np.uint8)[None, :, None], (160, 1, 3))  # no face
    return {"a.png": a, "a_flip.png": np.ascontiguousarray(a[:, ::-1]), "h.png": h, "both.png": both, "none.png": ramp}


@pytest.fixture(scope="module")
def images(astronaut, grace_hopper) -> dict[str, np.ndarray]:
    return _images(astronaut, grace_hopper)


def _write(root: Path, images: dict[str, np.ndarray]) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        Image.fromarray(img).save(root / name)
    return [root / name for name in images]


class _CountCalls:
    """Wraps a method's ``anonymize`` to count its calls and crops."""

    def __init__(self, method, poisoned_boxes=()):
        self.calls: list[int] = []
        self.inner = method.anonymize
        self.poisoned = {tuple(b) for b in poisoned_boxes}

    def __call__(self, crops, contexts):
        self.calls.append(len(crops))
        if any(tuple(c.face.box) in self.poisoned for c in contexts):
            raise RuntimeError("this face breaks the method")
        return self.inner(crops, contexts)


@pytest.mark.parametrize("method", ["proface-s", "mosaic"])
def test_batch_writes_the_bytes_of_one_by_one_and_one_method_call(tmp_path, images, method):
    srcs = _write(tmp_path / "src", images)
    one = Anonymizer(method=method, payload="none", seed=3)
    (tmp_path / "one").mkdir()
    for src in srcs:
        one.process_file(src, tmp_path / "one" / src.name)
    batch = Anonymizer(method=method, payload="none", seed=3)
    spy = _CountCalls(batch.method)
    batch.method.anonymize = spy
    (tmp_path / "batch").mkdir()
    reports = batch.process_files([(src, tmp_path / "batch" / src.name) for src in srcs])

    assert all(r.ok for r in reports)
    assert [r.face_count for r in reports] == [1, 1, 1, 2, 0]
    assert spy.calls == [5]  # all five faces of the batch in ONE method call
    for src in srcs:
        out = (tmp_path / "batch" / src.name).read_bytes()
        assert out == (tmp_path / "one" / src.name).read_bytes(), src.name  # same seed, same bytes
    assert not np.array_equal(decode_image((tmp_path / "batch" / "both.png").read_bytes()).pixels, images["both.png"])


def test_sealed_batch_recovers_exactly_and_matches_one_by_one_pixels(tmp_path, images):
    """With a payload the containers differ (fresh nonces and ephemeral keys), the pixels do not."""
    srcs = _write(tmp_path / "src", images)
    me = X25519Identity.generate()
    one = Anonymizer(method="proface-s", recipients=[me.recipient], seed=9)
    batch = Anonymizer(method="proface-s", recipients=[me.recipient], seed=9)
    for d in ("one", "batch"):
        (tmp_path / d).mkdir()
    for src in srcs:
        one.process_file(src, tmp_path / "one" / src.name)
    reports = batch.process_files([(src, tmp_path / "batch" / src.name) for src in srcs])
    assert all(r.ok and r.payload == ["embedded"] for r in reports)
    for src in srcs:
        data = (tmp_path / "batch" / src.name).read_bytes()
        pixels = decode_image(data).pixels
        assert np.array_equal(pixels, decode_image((tmp_path / "one" / src.name).read_bytes()).pixels), src.name
        restored, *_ = recover_image(data, [me], name=src.name)
        assert np.array_equal(restored, images[src.name]), src.name  # bit-exact recovery


def test_a_bad_file_fails_alone_and_the_others_are_written(tmp_path, images):
    srcs = _write(tmp_path / "src", images)
    broken = tmp_path / "src" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    pairs = [(p, tmp_path / "out" / p.name) for p in [srcs[0], broken, tmp_path / "src" / "missing.png", *srcs[1:]]]
    (tmp_path / "out").mkdir()
    anonymizer = Anonymizer(method="mosaic", payload="none", seed=1, require_faces=True)
    results = anonymizer.process_files(pairs)

    assert isinstance(results[1], InputError) and results[1].exit_code == 3
    assert isinstance(results[2], InputError)
    assert isinstance(results[-1], NoFacesError)  # none.png, with --require-faces
    written = [src.name for (src, _), r in zip(pairs, results) if not isinstance(r, Exception)]
    assert written == ["a.png", "a_flip.png", "h.png", "both.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(written)  # nothing for the failures
    for name in written:  # each as process_file writes it
        alone = Anonymizer(method="mosaic", payload="none", seed=1)
        alone.process_file(tmp_path / "src" / name, tmp_path / f"alone-{name}")
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / f"alone-{name}").read_bytes(), name
    with pytest.raises(InputError):  # the single-file path still raises
        anonymizer.process_file(broken, tmp_path / "x.png")


def test_a_face_that_breaks_the_method_fails_only_its_image(tmp_path, images):
    """One image whose faces make the batched method call fail: the batch is redone image by image,
    so only that image fails."""
    srcs = _write(tmp_path / "src", images)
    anonymizer = Anonymizer(method="mosaic", payload="none", seed=2)
    poisoned = anonymizer.detector.detect(images["h.png"])
    spy = _CountCalls(anonymizer.method, [f.box for f in poisoned])
    anonymizer.method.anonymize = spy
    (tmp_path / "out").mkdir()
    results = anonymizer.process_files([(p, tmp_path / "out" / p.name) for p in srcs])

    assert [type(r).__name__ for r in results] == ["FileReport", "FileReport", "RuntimeError", "FileReport", "FileReport"]
    assert spy.calls[0] == 5 and len(spy.calls) == 1 + 4  # the batch, then each image with faces alone
    assert not (tmp_path / "out" / "h.png").exists()
    for name in ("a.png", "both.png"):
        alone = Anonymizer(method="mosaic", payload="none", seed=2)
        alone.process_file(tmp_path / "src" / name, tmp_path / f"alone-{name}")
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / f"alone-{name}").read_bytes(), name
