"""User-supplied weight files G2Face needs, registered with faceveil's model registry
(``faceveil models`` lists them). Nothing is ever downloaded."""

from __future__ import annotations

from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model, require_models, user_weight

def _user_file(name: str, filename: str, description: str, source: str) -> ModelSpec:
    return register_model(ModelSpec(name=name, description=f"{description} ({filename})", source=source,
                                    locate=user_weight(filename),
                                    where=f"$FACEVEIL_WEIGHTS (default ~/.cache/faceveil/weights)/{filename}"))


G2FACE = _user_file("g2face", "G2Face.pth",
                    "G2Face networks: generator, style mapper, dummy-identity mapper, hiding extractor",
                    "G2Face authors' release (Yang et al., IEEE TIFS 2024, arXiv:2408.09458); the authors' license")
ARCFACE = _user_file("arcface_iresnet50", "backbone.pth", "ArcFace IResNet-50 identity encoder, ms1mv3_arcface_r50",
                     "insightface arcface_torch model zoo (non-commercial research license)")
DEEP3D = _user_file("deep3dfacerecon", "epoch_20.pth",
                    "Deep3DFaceRecon ResNet-50 3DMM coefficient regressor (entry net_recon)",
                    "Deep3DFaceRecon_pytorch release (sicxu/Deep3DFaceRecon_pytorch), research license")

REQUIRED = [G2FACE.name, ARCFACE.name, DEEP3D.name]


def required_weight_paths() -> dict[str, Path]:
    """Paths of all three files, or one ModelUnavailableError listing every missing file."""
    return require_models(REQUIRED)
