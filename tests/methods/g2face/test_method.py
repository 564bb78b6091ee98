"""The g2face method: registration, missing-weights error, determinism, payload plumbing."""

import numpy as np
import pytest
import torch

from faceveil.errors import InputError, KeyMaterialError, ModelUnavailableError, PayloadCorruptError
from faceveil.testing import load_sample
from faceveil.faces.types import Face
from faceveil.methods.base import FaceContext, available_methods, create_method
from faceveil.methods.g2face.method import G2FaceMethod, crops_to_tensor, tensor_to_crops
from faceveil.models_registry import model_statuses

from .small import small_engine

torch.set_num_threads(1)


def crop(name: str) -> np.ndarray:
    """A 256 px face crop of a package-shipped photo (not landmark-aligned; enough for these tests)."""
    from PIL import Image

    img = load_sample(name)
    box = {"astronaut": (130, 0, 380, 250), "grace_hopper": (90, 30, 410, 350)}[name]
    return np.asarray(Image.fromarray(img).crop(box).resize((256, 256), Image.BILINEAR))


def ctx(seed: int, key: bytes | None = b"k" * 32, index: int = 0) -> FaceContext:
    derive = None if key is None else (lambda label, n, _k=key: (_k + label.encode()) [:n])
    return FaceContext(face=Face(box=(0, 0, 10, 10)), index=index, seed=seed, derive_secret=derive)


@pytest.fixture(scope="module")
def method() -> G2FaceMethod:
    return G2FaceMethod(engine=small_engine())


def test_registered_and_weights_listed(monkeypatch, tmp_path):
    assert "g2face" in available_methods()
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    names = {s.name: s for s in model_statuses()}
    for n in ("g2face", "arcface_iresnet50", "deep3dfacerecon"):
        assert n in names and not names[n].installed


def test_missing_weights_error_lists_every_file(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelUnavailableError) as err:
        create_method("g2face")
    msg = str(err.value)
    for f in ("G2Face.pth", "backbone.pth", "epoch_20.pth"):
        assert f in msg


def test_corrupt_weight_file_is_an_input_error(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    for f in ("G2Face.pth", "backbone.pth", "epoch_20.pth"):
        (tmp_path / f).write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        create_method("g2face")


def test_bad_options_and_crops_are_input_errors(method):
    with pytest.raises(InputError):
        G2FaceMethod(payload_mode="plain", engine=method.engine)
    with pytest.raises(InputError):
        method.anonymize([np.zeros((128, 128, 3), np.uint8)], [ctx(1)])


def test_crop_tensor_round_trip_is_exact():
    c = crop("astronaut")
    assert np.array_equal(tensor_to_crops(crops_to_tensor([c], 256))[0], c)


def test_same_seed_same_pseudonym_different_seed_different_face(method):
    faces = [crop("astronaut"), crop("grace_hopper")]
    a = method.anonymize(faces, [ctx(7, index=0), ctx(8, index=1)])
    b = method.anonymize(faces[:1], [ctx(7)])
    c = method.anonymize(faces[:1], [ctx(9)])
    assert a[0].shape == (256, 256, 3) and a[0].dtype == np.uint8
    # secure mode hides a fresh random nonce each time, so outputs differ slightly, but only slightly
    assert np.abs(a[0].astype(int) - b[0].astype(int)).mean() < np.abs(a[0].astype(int) - c[0].astype(int)).mean()
    dummy = method.engine.dummy_identity([7, 7, 9])
    assert torch.equal(dummy[0], dummy[1]) and not torch.equal(dummy[0], dummy[2])


def test_paper_mode_is_reproducible_and_params_recorded(method):
    paper = G2FaceMethod(payload_mode="paper", engine=method.engine)
    face = [crop("astronaut")]
    assert np.array_equal(paper.anonymize(face, [ctx(3)])[0], paper.anonymize(face, [ctx(3)])[0])
    assert paper.params() == {"payload_mode": "paper"}
    assert paper.recover(paper.anonymize(face, [ctx(3)]), [ctx(3)])[0].shape == (256, 256, 3)


def test_untrained_extractor_gives_a_clear_corrupt_payload_error(method):
    anon = method.anonymize([crop("astronaut")], [ctx(3)])
    with pytest.raises(PayloadCorruptError):
        method.recover(anon, [ctx(3)])


def test_secure_recovery_without_key_is_a_key_error(method):
    anon = method.anonymize([crop("astronaut")], [ctx(3, key=None)])
    with pytest.raises(KeyMaterialError):
        method.recover(anon, [ctx(3, key=None)])


def test_bad_device_is_an_input_error():
    from faceveil.methods.g2face.method import resolve_device

    with pytest.raises(InputError):
        resolve_device("tpu:7")
    assert resolve_device("cpu").type == "cpu"


def test_bf16_autocast_engine_stays_close_to_fp32(method):
    from faceveil.methods.g2face.engine import G2FaceEngine

    engine = method.engine
    bf16 = G2FaceEngine(engine.networks, engine.identity, engine.geometry, autocast_dtype=torch.bfloat16)
    x = crops_to_tensor([crop("grace_hopper")], 256)
    bits = torch.randint(0, 2, (1, 16384), generator=torch.Generator().manual_seed(0)).float()
    full, half = engine.anonymize(x, [4], bits), bf16.anonymize(x, [4], bits)
    assert torch.isfinite(half).all()
    assert (full - half).abs().mean() < 0.05


def test_missing_weights_error_says_where_each_file_comes_from(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelUnavailableError) as err:
        create_method("g2face")
    msg = str(err.value)
    for source in ("github.com/Harxis/G2Face", "arcface_torch", "ms1mv3_arcface_r50_fp16", "github.com/sicxu/Deep3DFaceRecon_pytorch"):
        assert source in msg

