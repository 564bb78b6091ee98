"""Offline face-analysis models used for evaluation: recognizers, detectors, landmarks, head pose.

Importing this package only registers model files with faceveil.models_registry (numpy-level cost);
dlib, torch and OpenCV load when a model is first used.

- recognizers (faceveil.analysis.recognizer.Recognizer): recognizers.create_recognizer(name) for
  dlib, faceres, mobileface, arcface
- detectors: detectors.create_eval_detector(name) for centerface, dlib-hog, dlib-mmod, blazeface, haar
- geometry: mediapipe_models.FaceMesh (468 points), mesh_geometry.head_pose, dlib_models.DlibLandmarks68
- perceptual: perceptual.FidFeatures, perceptual.Lpips (user-supplied standard weights)
"""

from faceveil.analysis import dlib_models, haar_model, human_models, perceptual  # noqa: F401  (register model files)
