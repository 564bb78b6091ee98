"""User-supplied weight files G2Face needs, registered with faceveil's model registry
(``faceveil models`` lists them). Nothing is ever downloaded."""

from __future__ import annotations

from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model, require_models, user_weight

_WHERE = "$FACEVEIL_WEIGHTS (default ~/.cache/faceveil/weights)/{}"

G2FACE = register_model(ModelSpec(
    name="g2face",
    description="G2Face networks: generator, style mapper, dummy-identity mapper, hiding extractor (G2Face.pth)",
    source="G2Face authors' release (Yang et al., IEEE TIFS 2024, arXiv:2408.09458); the authors' license",
    locate=user_weight("G2Face.pth"),
    where=_WHERE.format("G2Face.pth"),
))
ARCFACE = register_model(ModelSpec(
    name="arcface_iresnet50",
    description="ArcFace IResNet-50 identity encoder, ms1mv3_arcface_r50 (backbone.pth)",
    source="insightface arcface_torch model zoo (non-commercial research license)",
    locate=user_weight("backbone.pth"),
    where=_WHERE.format("backbone.pth"),
))
DEEP3D = register_model(ModelSpec(
    name="deep3dfacerecon",
    description="Deep3DFaceRecon ResNet-50 3DMM coefficient regressor (epoch_20.pth, entry net_recon)",
    source="Deep3DFaceRecon_pytorch release (sicxu/Deep3DFaceRecon_pytorch), research license",
    locate=user_weight("epoch_20.pth"),
    where=_WHERE.format("epoch_20.pth"),
))

REQUIRED = [G2FACE.name, ARCFACE.name, DEEP3D.name]


def required_weight_paths() -> dict[str, Path]:
    """Paths of all three files, or one ModelUnavailableError listing every missing file."""
    return require_models(REQUIRED)
