"""The ``g2face`` method's factory (declared in faceveil.plugins), without importing torch: it imports the implementation
only when the method is created, so ``faceveil --help`` and the classical methods stay fast."""

from __future__ import annotations

from faceveil.methods.base import AnonymizationMethod


def create_g2face(**options) -> AnonymizationMethod:
    """options: payload_mode ("secure" | "paper"), device, batch_size, weights (a trained checkpoint),
    priors ("published" | "offline"), weights_sha256, config (see G2FaceMethod)."""
    from faceveil.methods.g2face.method import G2FaceMethod

    return G2FaceMethod(**options)
