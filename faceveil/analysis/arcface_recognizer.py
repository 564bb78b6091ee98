"""ArcFace IResNet-50 (insightface ``ms1mv3_arcface_r50`` backbone) as an evaluation recognizer.

User-supplied weights (model ``arcface_iresnet50`` in the registry, see ``faceveil models``). Faces
are aligned with insightface's standard 5-point 112x112 template; without detector landmarks the
landmarks are estimated from the box (faceveil.faces.align.face_landmarks).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from faceveil.analysis._images import as_rgb_uint8
from faceveil.analysis.recognizer import cosine_similarity
from faceveil.errors import ModelUnavailableError
from faceveil.faces.types import Face
from faceveil.models_registry import user_weight

# The same file as the registry entry "arcface_iresnet50" (faceveil.methods.g2face.weights); located
# directly so that checking for it does not import the G2Face package.
ARCFACE_WEIGHTS_FILE = "backbone.pth"


def locate_arcface_weights() -> Path | None:
    return user_weight(ARCFACE_WEIGHTS_FILE)()

# insightface's arcface_src: 5 landmarks (viewer-left eye, right eye, nose, mouth left, mouth right) in a 112 crop.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32
)


class ArcFaceRecognizer:
    name = "arcface"
    dim = 512
    same_person_cosine = 0.3  # insightface's usual verification operating point for r50 on aligned faces

    @cached_property
    def module(self):
        import torch

        from faceveil.analysis.arcface import iresnet50

        path = locate_arcface_weights()
        if path is None:
            raise ModelUnavailableError(
                f"arcface_iresnet50 weights not found: put insightface's ms1mv3_arcface_r50 {ARCFACE_WEIGHTS_FILE} in $FACEVEIL_WEIGHTS"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = iresnet50()
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state, strict=True)
        except (RuntimeError, OSError, KeyError, TypeError, ValueError) as exc:
            raise ModelUnavailableError(f"{path} is not an insightface IResNet-50 backbone: {exc}") from exc
        return model.eval()

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(112, 112, 3) uint8 ArcFace-aligned crop."""
        import cv2

        from faceveil.faces.align import face_landmarks

        img = as_rgb_uint8(rgb)
        matrix, _ = cv2.estimateAffinePartial2D(face_landmarks(face).astype(np.float32), ARCFACE_TEMPLATE_112)
        return cv2.warpAffine(img, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def embed_tensor(self, crops):
        """Differentiable: (N, 3, 112, 112) in [-1, 1] -> (N, 512)."""
        return self.module(crops)

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        import torch

        x = torch.from_numpy(self.crop(rgb, face)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        with torch.no_grad():
            return self.module(x)[0].numpy().astype(np.float32)

    def similarity(self, emb_a: np.ndarray, emb_b: np.ndarray) -> float:
        return cosine_similarity(emb_a, emb_b)

    def same_person(self, emb_a: np.ndarray, emb_b: np.ndarray) -> bool:
        return self.similarity(emb_a, emb_b) > self.same_person_cosine
