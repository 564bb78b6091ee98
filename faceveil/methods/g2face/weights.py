"""User-supplied weight files G2Face needs, registered with faceveil's model registry
(``faceveil models`` lists them, and a missing file's error says where it comes from). Nothing is
ever downloaded. None of the authors publishes a SHA-256 for these files, so none is checked."""

from __future__ import annotations

from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model, require_models, user_weight

NO_HASH = "no SHA-256 published by the authors"


def _user_file(name: str, filename: str, description: str, source: str, where: str | None = None) -> ModelSpec:
    return register_model(ModelSpec(name=name, description=f"{description} ({filename})", source=source,
                                    locate=user_weight(filename),
                                    where=where or f"$FACEVEIL_WEIGHTS (default ~/.cache/faceveil/weights)/{filename}"))


G2FACE = _user_file(
    "g2face", "G2Face.pth",
    "G2Face networks: generator, style mapper, dummy-identity mapper, hiding extractor",
    "G2Face authors' release (Yang et al., IEEE TIFS 2024): github.com/Harxis/G2Face, README 'Installation' links "
    f"the weights folder (Google Drive or Baidu Netdisk), file weights/G2Face.pth; MIT license; {NO_HASH}")
ARCFACE = _user_file(
    "arcface_iresnet50", "backbone.pth",
    "ArcFace IResNet-50 identity encoder, ms1mv3_arcface_r50",
    "insightface arcface_torch model zoo: github.com/deepinsight/insightface, recognition/arcface_torch README, "
    "section ms1mv3 (OneDrive), folder ms1mv3_arcface_r50_fp16, file backbone.pth (G2Face's test.py reads the same "
    f"file renamed pretrain/ms1mv3_arcface_r50.pth: name it backbone.pth); non-commercial research license; {NO_HASH}")
DEEP3D = _user_file(
    "deep3dfacerecon", "epoch_20.pth",
    "Deep3DFaceRecon ResNet-50 3DMM coefficient regressor (entry net_recon)",
    "Deep3DFaceRecon_pytorch: github.com/sicxu/Deep3DFaceRecon_pytorch, README 'Inference with a pre-trained "
    f"model' (Google Drive folder), file checkpoints/<model_name>/epoch_20.pth; research license; {NO_HASH}")
STYLEGAN2 = _user_file(
    "stylegan2_ffhq256", "550000.pt",
    "StyleGAN2 FFHQ 256 px (rosinality), only to initialise `faceveil train g2face --stylegan PATH`",
    "rosinality/stylegan2-pytorch: github.com/rosinality/stylegan2-pytorch, README 'Pretrained Checkpoints' "
    f"(Google Drive), file 550000.pt (256 px, FFHQ, 550k iterations, channel multiplier 2); {NO_HASH}",
    where="the path given to --stylegan (shown as installed when it is $FACEVEIL_WEIGHTS/550000.pt)")

REQUIRED = [G2FACE.name, ARCFACE.name, DEEP3D.name]


def required_weight_paths() -> dict[str, Path]:
    """Paths of all three files, or one ModelUnavailableError listing every missing file."""
    return require_models(REQUIRED)
