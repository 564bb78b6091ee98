"""A checkpoint trained with the offline priors (MobileFace + FaceMesh) used as the g2face method:
built from the checkpoint's own layout, through the photo pipeline and the CLI, params that
re-create the same method, and typed errors for missing / wrong checkpoints."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from faceveil.crypto.envelope import ContentKey
from faceveil.errors import InputError, ModelUnavailableError, PayloadCorruptError
from faceveil.testing import load_sample
from faceveil.faces.align import align_face
from faceveil.faces.detect import CenterFaceDetector
from faceveil.methods.base import create_method
from faceveil.methods.g2face.config import TrainConfig
from faceveil.methods.g2face.layout import NetworkLayout
from faceveil.methods.g2face.train import run_training
from faceveil.models_registry import model_statuses
from faceveil.pipeline import anonymize_frame, face_contexts, recover_frame_from_pixels

torch.set_num_threads(1)

# 256 px: the smallest size whose (S/2)^2-bit channel holds a 256-d MobileFace identity in both payload modes
TINY_OFFLINE = TrainConfig(size=256, channel_scale=1 / 32, extractor_width=8, extractor_blocks=1, batch_size=2,
                           steps=1, warmup_steps=1)


def _offline_priors_installed() -> bool:
    status = {s.name: s.installed for s in model_statuses()}
    return status.get("human-mobileface", False) and status.get("human-facemesh", False)


pytestmark = pytest.mark.skipif(not _offline_priors_installed(), reason="npm human-models not installed")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("g2face-offline")
    return run_training(TINY_OFFLINE, out, priors="offline", device="cpu")


@pytest.fixture(scope="module")
def scene():
    rgb = load_sample("astronaut")
    faces = CenterFaceDetector().detect(rgb)[:1]
    assert faces and faces[0].landmarks is not None
    return rgb, faces


@pytest.fixture(scope="module")
def paper_method(checkpoint):
    return create_method("g2face", weights=str(checkpoint), priors="offline", payload_mode="paper")


def save_networks(path, layout: NetworkLayout, **extra) -> None:
    """A checkpoint with the four G2Face entries of freshly built networks of ``layout``."""
    torch.manual_seed(0)
    torch.save({**{k: m.state_dict() for k, m in layout.build().modules().items()}, **extra}, path)


def changed_outside(before: np.ndarray, after: np.ndarray, rect) -> bool:
    x, y, w, h = rect
    changed = np.any(before != after, axis=-1)
    changed[y : y + h, x : x + w] = False
    return bool(changed.any())


def test_networks_follow_the_checkpoint_layout_and_params_record_it(checkpoint, paper_method):
    engine = paper_method.engine
    assert paper_method.crop_size == engine.size == TINY_OFFLINE.size
    assert engine.identity_dim == 256 and engine.networks.style_mlp.config.geometry_dim == 468 * 3
    assert engine.networks.generator.config.channel_scale == TINY_OFFLINE.channel_scale
    params = paper_method.params()
    assert params["priors"] == "offline" and params["weights"] == checkpoint.name
    assert params["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert params["config"]["size"] == 256 and params["config"]["identity_dim"] == 256
    assert json.loads(json.dumps(params)) == params  # stored as JSON in the container


def test_pipeline_replaces_only_the_reported_rect_and_recovers_from_pixels(scene, paper_method):
    rgb, faces = scene
    contexts = face_contexts(faces, ContentKey.generate())
    result = anonymize_frame(rgb, faces, paper_method, contexts)
    assert result.rgb.shape == rgb.shape and result.rgb.dtype == np.uint8
    (outcome,) = result.outcomes
    assert outcome.method == "g2face"
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    assert np.any(result.rgb != rgb, axis=-1)[y0:y1, x0:x1].mean() > 0.5  # the face itself is replaced
    assert not changed_outside(rgb, result.rgb, outcome.rect)

    back = recover_frame_from_pixels(result.rgb, faces, paper_method, contexts)
    assert back.shape == rgb.shape and back.dtype == np.uint8
    assert np.any(back != result.rgb)  # the inverse pass ran and pasted a face back
    assert not changed_outside(result.rgb, back, outcome.rect)


def test_secure_payload_fits_and_an_untrained_extractor_is_a_corrupt_payload(scene, checkpoint):
    rgb, faces = scene
    method = create_method("g2face", weights=str(checkpoint), priors="offline")
    layout = method.codec.layout
    assert (layout.channel_bits, layout.embedding_dim) == (256 * 256 // 4, 256)
    assert layout.parity_per_codeword > 123  # a smaller identity leaves more parity than published
    contexts = face_contexts(faces, ContentKey.generate())
    result = anonymize_frame(rgb, faces, method, contexts)
    with pytest.raises(PayloadCorruptError):  # one training step: the extractor reads noise
        recover_frame_from_pixels(result.rgb, faces, method, contexts)


def test_a_128_px_checkpoint_works_on_128_px_crops(scene, tmp_path):
    """The pipeline aligns to the instance's crop_size (the method rejects crops of any other size)."""
    path = run_training(replace(TINY_OFFLINE, size=128), tmp_path, priors="offline", device="cpu")
    method = create_method("g2face", weights=str(path), priors="offline")
    assert method.crop_size == 128 and method.min_eye_distance == 8.0
    assert method.codec.layout.value_bytes == 1  # 4096 bits: the identity travels as 8-bit values
    rgb, faces = scene
    result = anonymize_frame(rgb, faces, method, face_contexts(faces, ContentKey.generate()))
    (outcome,) = result.outcomes
    assert outcome.method == "g2face" and outcome.fallback_reason is None
    assert np.any(result.rgb != rgb) and not changed_outside(rgb, result.rgb, outcome.rect)


def test_params_re_create_an_equal_method_from_weights_dir(scene, checkpoint, paper_method, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(checkpoint.parent))
    monkeypatch.chdir(tmp_path)  # the recorded file name is found in $FACEVEIL_WEIGHTS, not the working dir
    again = create_method("g2face", **json.loads(json.dumps(paper_method.params())))
    assert again.params() == paper_method.params()
    rgb, faces = scene
    crop = align_face(rgb, faces[0], size=paper_method.crop_size).crop
    contexts = face_contexts(faces, ContentKey.generate(), seeds=[5])
    assert np.array_equal(again.anonymize([crop], contexts)[0], paper_method.anonymize([crop], contexts)[0])


def test_cli_options_anonymize_and_recover_from_pixels(checkpoint, astronaut_png, passphrase, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from faceveil.cli import main

    out, back = tmp_path / "anon.png", tmp_path / "back.png"
    options = ["-O", f"weights={checkpoint}", "-O", "priors=offline", "-O", "payload_mode=paper"]
    assert main(["anonymize", str(astronaut_png), "-o", str(out), "--method", "g2face", *options]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)["method_params"]
    assert recorded["weights"] == checkpoint.name and str(checkpoint.parent) not in json.dumps(recorded)  # no local paths
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(checkpoint.parent))  # recovery finds the file by its recorded name
    assert main(["recover", str(out), "-o", str(back), "--from-pixels"]) == 0
    original, anonymized, recovered = (np.asarray(Image.open(p).convert("RGB")) for p in (astronaut_png, out, back))
    assert np.any(anonymized != original) and np.any(recovered != anonymized)


def test_missing_unreadable_and_unrelated_files_are_typed_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="nothere.pth"):
        create_method("g2face", weights="nothere.pth", priors="offline")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        create_method("g2face", weights=str(tmp_path / "garbage.pth"), priors="offline")
    torch.save({"anonymous_net": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a G2Face checkpoint"):
        create_method("g2face", weights=str(tmp_path / "other.pth"), priors="offline")
    with pytest.raises(InputError, match="needs weights"):
        create_method("g2face", priors="offline")
    for weights in ("nothere.pth", None):
        with pytest.raises(InputError, match="unknown priors"):
            create_method("g2face", weights=weights, priors="magic")


def test_checkpoint_not_matching_priors_or_its_own_layout_is_an_input_error(checkpoint, tmp_path):
    with pytest.raises(InputError, match="priors='offline'"):  # no published prior weights needed to say so
        create_method("g2face", weights=str(checkpoint), priors="published")
    state = torch.load(checkpoint, weights_only=True)
    key = "convs.0.conv.weight"
    state["anonymous_net"][key] = torch.zeros(1, 3, 3, 3, 3)  # a tensor of the wrong shape
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(InputError, match="does not match the network"):
        create_method("g2face", weights=str(tmp_path / "broken.pth"), priors="offline")


def test_recovery_refuses_a_different_checkpoint(checkpoint, paper_method, tmp_path):
    params = paper_method.params()
    other = tmp_path / checkpoint.name
    save_networks(other, NetworkLayout(**params["config"]))
    with pytest.raises(InputError, match="sha256"):
        create_method("g2face", **{**params, "weights": str(other)})


def test_a_channel_too_small_for_the_identity_is_an_input_error(tmp_path):
    small = NetworkLayout(size=64, channel_scale=1 / 32, extractor_width=8, extractor_blocks=1, identity_dim=256, geometry_dim=1404)
    save_networks(tmp_path / "small.pth", small)
    for mode in ("secure", "paper"):
        with pytest.raises(InputError, match="too small|cannot carry"):
            create_method("g2face", weights=str(tmp_path / "small.pth"), priors="offline", payload_mode=mode)


def test_layout_is_read_from_shapes_alone():
    layout = NetworkLayout(size=64, channel_scale=1 / 16, extractor_width=8, extractor_blocks=2, identity_dim=256, geometry_dim=1404)
    state = {k: m.state_dict() for k, m in layout.build().modules().items()}  # no training config entry
    assert NetworkLayout.from_checkpoint(state, "test") == layout
    assert NetworkLayout.from_checkpoint({k: m.state_dict() for k, m in NetworkLayout().build().modules().items()}, "published") \
        == NetworkLayout()
