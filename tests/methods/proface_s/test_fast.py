"""The fast PRO-Face S path (faceveil.methods.proface_s.fast) computes what the reference computes.

Reference: ``ProFaceS.protect`` / ``recover`` in eager fp32 (``method.protect_batch`` / ``recover_batch``).
The trimmed torch path must be *exactly* equal (it only skips sub-networks whose output is discarded);
the onnxruntime path equal to float rounding, i.e. 8-bit outputs within one grey level and almost all
identical. Real aligned faces and the shipped weights (the outputs a user gets).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceveil.methods.proface_s import fast, keys
from faceveil.methods.proface_s.checkpoint import load_proface_s
from faceveil.methods.proface_s.method import ProFaceSMethod, protect_batch, recover_batch, resolve_weights, to_model_range
from faceveil.methods.proface_s.obfuscations import obfuscate


@pytest.fixture(scope="module")
def net():
    return load_proface_s(resolve_weights(None), "cpu").eval()


@pytest.fixture(scope="module")
def batch(aligned_faces):
    """Two real faces at 128 px (small: keeps the test quick), their blur covers and random key maps."""
    import cv2

    faces = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in aligned_faces.values()][:2]
    rng = np.random.default_rng(0)
    covers = [obfuscate(f, "blur", rng) for f in faces]
    key_maps = [keys.secure_key_bits_from_seed(bytes([i]) * 32, 128, 128) for i in range(len(faces))]
    return faces, covers, key_maps


def test_trimmed_torch_path_is_exactly_the_reference(net, batch):
    faces, covers, key_maps = batch
    original, cover, key = to_model_range(faces), to_model_range(covers), keys.key_tensor(key_maps)
    with torch.no_grad():
        reference = net.protect(original, cover, key)
        assert torch.equal(fast.protect_trimmed(net, original, cover, key), reference)
        assert torch.equal(fast.recover_trimmed(net, reference, key), net.recover(reference, key))


def _close_uint8(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    a, b = np.stack(a).astype(int), np.stack(b).astype(int)
    diff = np.abs(a - b)
    assert diff.max() <= 1, f"max difference {diff.max()} grey levels"
    assert (diff == 0).mean() > 0.99


def test_onnxruntime_path_matches_the_reference_after_8_bit_rounding(net, batch, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(tmp_path))
    faces, covers, key_maps = batch
    assert fast.onnx_sessions(net) is not None, "onnxruntime export must work on this platform"
    protected_ref = protect_batch(net, faces, covers, key_maps)
    protected_fast = fast.protect_batch(net, faces, covers, key_maps, backend="onnx")
    _close_uint8(protected_fast, protected_ref)
    _close_uint8(fast.recover_batch(net, protected_ref, key_maps, backend="onnx"), recover_batch(net, protected_ref, key_maps))
    # the protected face still hides the original: a wrong key recovers garbage on the fast path too
    wrong = [keys.secure_key_bits_from_seed(b"x" * 32, 128, 128)] * len(faces)
    good = np.stack(fast.recover_batch(net, protected_ref, key_maps, backend="onnx")).astype(float)
    bad = np.stack(fast.recover_batch(net, protected_ref, wrong, backend="onnx")).astype(float)
    truth = np.stack(faces).astype(float)
    assert np.abs(good - truth).mean() * 3 < np.abs(bad - truth).mean()


def test_exported_graph_is_cached_per_weights_and_code(net, batch, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(tmp_path))
    fast._SESSIONS.pop(net, None)
    fast.onnx_sessions(net, cache_key="f" * 64)
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert len(cached) == 2 and all(n.startswith("proface_s-") and n.endswith(".onnx") for n in cached)
    fast._SESSIONS.pop(net, None)
    faces, covers, key_maps = batch
    sessions = fast.onnx_sessions(net, cache_key="f" * 64)  # loaded from the cache this time
    assert sessions is not None
    _close_uint8(fast.protect_batch(net, faces, covers, key_maps, backend="onnx"), protect_batch(net, faces, covers, key_maps))


def test_method_uses_the_fast_path_and_it_agrees_with_the_reference_path(aligned_faces, tmp_path, monkeypatch):
    from faceveil.crypto.envelope import ContentKey
    from faceveil.faces.types import Face
    from faceveil.pipeline import face_contexts

    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(tmp_path))
    crops = [aligned_faces["astronaut"]]
    contexts = face_contexts([Face((0.0, 0.0, 10.0, 10.0))], ContentKey.generate())
    fast_method, reference_method = ProFaceSMethod(), ProFaceSMethod()
    reference_method.inference = "reference"
    assert fast_method.inference == "fast"
    _close_uint8(fast_method.anonymize(crops, contexts), reference_method.anonymize(crops, contexts))
    protected = reference_method.anonymize(crops, contexts)
    _close_uint8(fast_method.recover(protected, contexts), reference_method.recover(protected, contexts))
