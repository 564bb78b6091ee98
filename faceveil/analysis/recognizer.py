"""The one interface every face recognizer used for evaluation implements.

A recognizer maps a face (whole RGB image + its :class:`~faceveil.faces.types.Face` box) to an
identity embedding; two embeddings of the same person are more similar than those of two people.
Recognizers crop/align the face themselves from ``face.box`` so they keep working when a detector
no longer finds the anonymized face (the box of the original is reused).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from faceveil.faces.types import Face


@runtime_checkable
class Recognizer(Protocol):
    name: str  # short id used in reports, e.g. "dlib", "faceres", "mobileface"
    dim: int  # embedding length D
    # Cosine similarity above which two faces are taken to be the same person (the model's own
    # operating point, converted to cosine where the model publishes a distance threshold).
    same_person_cosine: float

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """(H, W, 3) uint8 RGB image + face in it -> (D,) float32 embedding."""
        ...

    def similarity(self, emb_a: np.ndarray, emb_b: np.ndarray) -> float:
        """Cosine similarity in [-1, 1] of two (D,) embeddings; higher = more alike."""
        ...

    def same_person(self, emb_a: np.ndarray, emb_b: np.ndarray) -> bool:
        """The model's own verification decision (its published distance rule where it has one)."""
        ...


def cosine_similarity(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """Cosine of the angle between two (D,) vectors; 0.0 if either is all zeros."""
    a = np.asarray(emb_a, dtype=np.float64).ravel()
    b = np.asarray(emb_b, dtype=np.float64).ravel()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else 0.0
