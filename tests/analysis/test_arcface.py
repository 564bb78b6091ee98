"""IResNet-50 ArcFace: published layout loads strictly; embeddings are per-sample and resize-aware."""

import numpy as np
import pytest
import torch

from faceveil.analysis.arcface import embed_faces, iresnet50
from faceveil.testing import load_sample

torch.set_num_threads(1)


def _synthetic(entries, prefix=""):
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, shape, dtype in entries:
        if dtype == "int64":
            out[prefix + name] = torch.tensor(7)
        elif name.endswith("running_var"):
            out[prefix + name] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) > 1:  # He-scaled so 50 random layers neither vanish nor explode
            out[prefix + name] = torch.randn(shape, generator=g) / float(np.prod(shape[1:])) ** 0.5
        elif name.endswith("weight"):
            out[prefix + name] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            out[prefix + name] = 0.1 * torch.randn(shape, generator=g)
    return out


@pytest.fixture(scope="module")
def model(reference_layouts):
    m = iresnet50()
    m.load_state_dict({k[7:]: v for k, v in _synthetic(reference_layouts["arcface_iresnet50"], "module.").items()},
                      strict=True)
    return m.eval()


def _faces() -> torch.Tensor:
    crops = [load_sample("astronaut")[20:260, 130:370], load_sample("grace_hopper")[40:320, 110:390]]
    t = [torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1).float() / 127.5 - 1 for c in crops]
    return torch.stack([torch.nn.functional.interpolate(x[None], size=(112, 112), mode="bilinear")[0] for x in t])


def test_published_layout_loads_strictly(model):
    assert sum(p.numel() for p in model.parameters()) > 40_000_000


def test_embeddings_are_per_sample_in_eval_mode(model):
    faces = _faces()
    with torch.no_grad():
        both = model(faces)
        single = model(faces[1:])
    assert both.shape == (2, 512)
    torch.testing.assert_close(both[1:], single, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(both[0], both[1])


def test_embed_faces_resizes_any_crop_to_112(model):
    faces = _faces()
    big = torch.nn.functional.interpolate(faces, size=(224, 224), mode="bilinear")
    with torch.no_grad():
        e_big, e_112 = embed_faces(model, big), embed_faces(model, faces)
    cos = torch.nn.functional.cosine_similarity(e_big, e_112)
    assert (cos > 0.9).all()
