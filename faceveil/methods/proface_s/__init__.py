"""PRO-Face S (invertible obfuscation with a secret key) as the ``proface-s`` method.

Importing this package registers the method and its weight files; torch is imported only when a
network is actually built.
"""

from __future__ import annotations

from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model, weights_dir

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "proface_s.pt"
# The weights shipped before issue 11's retraining: kept so that faces protected with them still
# recover from their pixels (recovery picks the shipped file whose SHA-256 the output records).
SHIPPED_WEIGHTS_V1 = SHIPPED_WEIGHTS.with_name("proface_s_v1.pt")
OFFICIAL_WEIGHTS_FILE = "proface_s_official.pth"
# the released checkpoint under the name the authors give it (either name is found)
OFFICIAL_RELEASE_FILE = "hybridAll_inv3_recTypeRandom_secretAsNoise_TripMargin1.2_ep12_iter15000.pth"
OFFICIAL_SOURCE = (
    "PRO-Face S authors' release: github.com/lixionga/ProFace, folder 'FacePrivacy/PRO-Face S', readme.md section "
    f"'Trained model' (BaiduDisk link, password on that page), file {OFFICIAL_RELEASE_FILE}; "
    "no SHA-256 published by the authors; the authors' license"
)


def _shipped_weights() -> Path | None:
    return SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.exists() else None


def _shipped_weights_v1() -> Path | None:
    return SHIPPED_WEIGHTS_V1 if SHIPPED_WEIGHTS_V1.exists() else None


def _official_weights() -> Path | None:
    for name in (OFFICIAL_WEIGHTS_FILE, OFFICIAL_RELEASE_FILE):
        path = weights_dir() / name
        if path.exists():
            return path
    return None


register_model(
    ModelSpec(
        name="proface-s",
        description="PRO-Face S invertible obfuscation network, faceveil-trained default weights",
        source="faceveil, trained with `faceveil train proface-s` (MIT); docs/models/proface_s.md",
        locate=_shipped_weights,
        where="faceveil/weights/proface_s.pt (ships with faceveil)",
    )
)
register_model(
    ModelSpec(
        name="proface-s-v1",
        description="PRO-Face S, faceveil's earlier default weights (before the leak fine-tune); recovers their outputs",
        source="faceveil, trained with `faceveil train proface-s` (MIT); docs/models/proface_s.md (History)",
        locate=_shipped_weights_v1,
        where="faceveil/weights/proface_s_v1.pt (ships with faceveil)",
    )
)
register_model(
    ModelSpec(
        name="proface-s-official",
        description="PRO-Face S released checkpoint (use with key_mode=compat and its password)",
        source=OFFICIAL_SOURCE,
        locate=_official_weights,
        where=f"$FACEVEIL_WEIGHTS/{OFFICIAL_RELEASE_FILE} (or renamed {OFFICIAL_WEIGHTS_FILE})",
    )
)

from faceveil.methods.proface_s.method import ProFaceSMethod  # noqa: E402  (registers "proface-s")

__all__ = ["ProFaceSMethod", "SHIPPED_WEIGHTS", "SHIPPED_WEIGHTS_V1"]
