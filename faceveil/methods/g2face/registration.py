"""The ``g2face`` method's factory (declared in faceveil.plugins), without importing torch: it imports the implementation
only when the method is created, so ``faceveil --help`` and the classical methods stay fast."""

from __future__ import annotations

from faceveil.methods.base import AnonymizationMethod


def create_g2face(payload_mode: str = "secure", device: str | None = None, batch_size: int = 4, engine=None,
                 weights: str | None = None, priors: str = "published", weights_sha256: str | None = None,
                 config: dict | None = None) -> AnonymizationMethod:
    """payload_mode ("secure" | "paper"), device, batch_size, weights (a trained checkpoint), priors
    ("published" | "offline"), weights_sha256, config (see G2FaceMethod). The keywords are spelled out
    (defaults equal G2FaceMethod's; a test checks) so ``faceveil anonymize --help`` lists them without torch."""
    from faceveil.methods.g2face.method import G2FaceMethod

    return G2FaceMethod(payload_mode=payload_mode, device=device, batch_size=batch_size, engine=engine, weights=weights,
                        priors=priors, weights_sha256=weights_sha256, config=config)
