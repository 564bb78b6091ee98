"""PRO-Face S (invertible obfuscation with a secret key) as the ``proface-s`` method.

Importing this package registers the method and its weight files; torch is imported only when a
network is actually built.
"""

from __future__ import annotations

from pathlib import Path

from faceveil.models_registry import ModelSpec, register_model, user_weight

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "proface_s.pt"
OFFICIAL_WEIGHTS_FILE = "proface_s_official.pth"


def _shipped_weights() -> Path | None:
    return SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.exists() else None


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
        name="proface-s-official",
        description="PRO-Face S released checkpoint (use with key_mode=compat and its password)",
        source="PRO-Face S authors' release (hybridAll_inv3_..._ep12_iter15000.pth), their license",
        locate=user_weight(OFFICIAL_WEIGHTS_FILE),
        where=f"$FACEVEIL_WEIGHTS/{OFFICIAL_WEIGHTS_FILE}",
    )
)

from faceveil.methods.proface_s.method import ProFaceSMethod  # noqa: E402  (registers "proface-s")

__all__ = ["ProFaceSMethod", "SHIPPED_WEIGHTS"]
