"""End to end with the published file layout: synthetic G2Face.pth / backbone.pth / epoch_20.pth in
$FACEVEIL_WEIGHTS -> create_method("g2face") -> full-size (256 px, published widths) anonymize/recover."""

import numpy as np
import pytest
import torch

from faceveil.errors import PayloadCorruptError
from faceveil.testing import load_sample
from faceveil.faces.types import Face
from faceveil.methods.base import FaceContext, create_method

from .reference import layout

torch.set_num_threads(1)


def scaled_state(entries, seed: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Synthetic weights with the published names/shapes, He-scaled so deep stacks stay finite."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, dtype in entries:
        if dtype == "int64":
            t = torch.tensor(1)
        elif len(shape) > 1:
            t = torch.randn(shape, generator=g) / float(np.prod(shape[1:])) ** 0.5
        elif name.endswith(("running_var", "weight")) and "noise" not in name:
            t = 1 + 0.1 * torch.rand(shape, generator=g)
        else:
            t = 0.1 * torch.randn(shape, generator=g)
        out[prefix + name] = t
    return out


@pytest.mark.slow
def test_published_layout_files_run_through_the_method(monkeypatch, tmp_path):
    entries = ("anonymous_net", "style_mlp", "map_2_id", "hiding_extractor")
    torch.save({e: scaled_state(layout("g2face_checkpoint", e), i) for i, e in enumerate(entries)}, tmp_path / "G2Face.pth")
    torch.save(scaled_state(layout("arcface_iresnet50"), 7, prefix="module."), tmp_path / "backbone.pth")
    torch.save({"net_recon": scaled_state(layout("deep3dfacerecon_net_recon"), 8)}, tmp_path / "epoch_20.pth")
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(tmp_path))

    method = create_method("g2face", payload_mode="paper", device="cpu")
    from PIL import Image

    crop = np.asarray(Image.fromarray(load_sample("astronaut")).crop((130, 0, 380, 250)).resize((256, 256)))
    ctx = FaceContext(face=Face(box=(0, 0, 1, 1)), index=0, seed=5)
    anon = method.anonymize([crop], [ctx])[0]
    assert anon.shape == (256, 256, 3) and anon.dtype == np.uint8
    assert np.abs(anon.astype(int) - crop.astype(int)).mean() > 1
    assert np.array_equal(method.anonymize([crop], [ctx])[0], anon)  # seeded pseudonym and noise
    assert method.recover([anon], [ctx])[0].shape == (256, 256, 3)

    secure = create_method("g2face", device="cpu")
    ctx_key = FaceContext(face=ctx.face, index=0, seed=5, derive_secret=lambda label, n: bytes(n))
    with pytest.raises(PayloadCorruptError):  # random extractor weights cannot read the payload
        secure.recover(secure.anonymize([crop], [ctx_key]), [ctx_key])
