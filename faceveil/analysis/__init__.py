"""Offline face-analysis models used for evaluation: recognizers, detectors, landmarks, head pose.

Importing this package only registers model files (faceveil.models_registry); the heavy libraries
(dlib, torch, onnxruntime, ai-edge-litert) load when a model is first used.
"""

from faceveil.analysis import dlib_models  # noqa: F401  (registers the dlib model files)
