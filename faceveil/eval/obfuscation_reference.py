"""The plain obfuscation a PRO-Face S-style method starts from, reproduced for comparison.

PRO-Face S hides the original face inside an obfuscated version of it (blur, pixelate, ...); the
protected output should look like that obfuscation (PRO-Face S paper: protected vs obfuscated PSNR /
SSIM) and should not reveal more identity than it. A method qualifies when it exposes
``obfuscation`` (a kind name); the reference is produced in the method's own space, crop rectangle
per-face seeds, mask and soft edge (the method's ``cover``), so it is exactly the image the method
obfuscated before hiding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceveil.methods.base import AnonymizationMethod, FaceContext


class ObfuscationReference(AnonymizationMethod):
    """Apply ``wrapped``'s pre-obfuscation alone, in its space and crop size."""

    name = "obfuscation-reference"

    def __init__(self, wrapped: AnonymizationMethod) -> None:
        self.wrapped = wrapped
        self.space = wrapped.space
        self.crop_size = wrapped.crop_size
        self.min_eye_distance = wrapped.min_eye_distance
        self.fallback = wrapped.fallback
        self.region_multiple = wrapped.region_multiple  # same rectangles as the method itself

    @staticmethod
    def supports(method: AnonymizationMethod) -> bool:
        return isinstance(getattr(method, "obfuscation", None), str)

    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        if callable(getattr(self.wrapped, "cover", None)):  # the method's own cover, edge included
            return [self.wrapped.cover(crop, ctx) for crop, ctx in zip(crops, contexts)]
        from faceveil.methods.proface_s.obfuscations import obfuscate

        kind, hook = self.wrapped.obfuscation, getattr(self.wrapped, "faceswap", None)
        # Same generator construction as the method itself: one default_rng(seed) per face.
        return [obfuscate(crop, kind, np.random.default_rng(ctx.seed), hook) for crop, ctx in zip(crops, contexts)]
