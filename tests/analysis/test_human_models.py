"""HSE FaceRes and MobileFace (npm human-models, run by our TF.js interpreter) on real faces."""

import numpy as np
import pytest
import torch

from faceveil.analysis.human_models import faceres_recognizer, human_models_dir, mobileface_recognizer
from faceveil.analysis.recognizer import Recognizer
from faceveil.models_registry import model_statuses

from .conftest import crop_face, flip_face, jpeg, main_face, rotate

pytestmark = pytest.mark.skipif(
    not (human_models_dir() / "faceres.bin").exists(),
    reason="human-models not installed (scripts/fetch_npm_models.sh)",
)

RECOGNIZERS = {"faceres": faceres_recognizer(), "mobileface": mobileface_recognizer()}


@pytest.fixture(scope="module", params=sorted(RECOGNIZERS))
def recognizer(request):
    torch.set_num_threads(1)
    return RECOGNIZERS[request.param]


def test_registered_and_installed():
    statuses = {s.name: s for s in model_statuses()}
    for name in ("human-faceres", "human-mobileface", "human-facemesh", "human-blazeface"):
        assert statuses[name].installed, name
        assert "MIT" in statuses[name].source


def test_embedding_shape(recognizer, hog, astronaut):
    emb = recognizer.embed(astronaut, main_face(hog, astronaut))
    assert emb.shape == (recognizer.dim,) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert isinstance(recognizer, Recognizer)


def test_separates_same_person_variants_from_another_person(recognizer, hog, astronaut, grace_hopper):
    for img, other in ((astronaut, grace_hopper), (grace_hopper, astronaut)):
        face, other_face = main_face(hog, img), main_face(hog, other)
        ref = recognizer.embed(img, face)
        different = recognizer.similarity(ref, recognizer.embed(other, other_face))
        assert different < recognizer.same_person_cosine
        for name, (variant, vface) in {
            "flip": flip_face(img, face),
            "jpeg30": (jpeg(img, 30), face),
            "crop+rescale": crop_face(img, face, left=40, top=30),
            "rotate5": rotate(img, face, 5.0),
        }.items():
            same = recognizer.similarity(ref, recognizer.embed(variant, vface))
            assert same > recognizer.same_person_cosine, f"{recognizer.name} {name}: {same:.3f}"
            assert recognizer.same_person(ref, recognizer.embed(variant, vface))
            assert same > different + 0.3


def test_embed_tensor_is_differentiable_and_matches_embed(recognizer, hog, astronaut):
    face = main_face(hog, astronaut)
    crop = recognizer.crop(astronaut, face)
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    x.requires_grad_(True)
    emb = recognizer.embed_tensor(x)
    assert emb.shape == (1, recognizer.dim)
    np.testing.assert_allclose(emb.detach().numpy()[0], recognizer.embed(astronaut, face), rtol=1e-4, atol=1e-4)
    emb.norm().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
