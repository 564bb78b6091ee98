"""Offline face-analysis models used for evaluation: recognizers, detectors, landmarks, head pose.

Importing this package only registers model files with faceveil.models_registry (numpy-level cost);
dlib, torch and OpenCV load when a model is first used.

- recognizers (faceveil.analysis.recognizer.Recognizer): dlib_models.DlibRecognizer,
  human_models.faceres_recognizer(), human_models.mobileface_recognizer() -- see recognizers.py
- detectors: detectors.create_eval_detector(name)
- geometry: mediapipe_models.FaceMesh (468 points), mesh_geometry.head_pose, dlib_models.DlibLandmarks68
"""

from faceveil.analysis import dlib_models, human_models  # noqa: F401  (register model files)
from faceveil.analysis import haar_model  # noqa: F401
