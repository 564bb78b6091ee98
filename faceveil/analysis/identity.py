"""Who is this face? Fused offline recognizers for ``--keep`` / ``--only`` (issue 24).

Each recognizer (dlib and FaceRes; see analysis.recognizers) maps a face to a unit vector; two faces
score, per recognizer, their cosine minus that recognizer's own same-person cosine, divided by the
spread of that recognizer's impostor cosines (so dlib's compressed scale counts as much as FaceRes'), and
the fused score is the mean over the recognizers. A face matches a person when the fused score against the
person's centroid (mean unit vector over the reference photos, per recognizer) is at least
:data:`MATCH_THRESHOLD`.

The threshold is the lowest value whose false-match rate is <= 1 % on real faces
(``benchmarks/bench_keep.py``, numbers in docs/review.md). The embeddings are biometric data: they
live in memory only (never in a report, a payload, a log or a temporary file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceveil.analysis.recognizer import Recognizer
from faceveil.errors import FaceveilError, ModelUnavailableError
from faceveil.faces.types import Face

# MobileFace is left out: on the dev faces its same-person cosines overlap other people's (20 % true
# matches at a 1 % false-match rate, against 100 % for dlib + FaceRes; benchmarks/bench_keep.py).
FUSED_RECOGNIZERS = ("dlib", "faceres")
# Standard deviation of each recognizer's impostor cosines on the dev faces (bench_keep.py): the unit
# of each recognizer's part of the fused score.
SPREAD = {"dlib": 0.04, "faceres": 0.085}
# Fused score at which a face is taken for the reference person: chosen with benchmarks/bench_keep.py
# (false-match rate <= 1 % on the dev faces' impostor pairs; docs/review.md has the table).
MATCH_THRESHOLD = -0.72
# Faces narrower than this (pixels) are not compared: recognizers are unreliable there (a face too
# small to recognise is treated as "no match", which --keep anonymizes and --only anonymizes too).
MIN_FACE_SIDE = 24


@dataclass(frozen=True)
class Identity:
    """One face's (or one person's centroid) unit embeddings, per recognizer name. In memory only."""

    vectors: dict[str, np.ndarray]

    def __repr__(self) -> str:  # never print the vectors (logs, tracebacks)
        return f"Identity({', '.join(self.vectors)})"


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


class FusedRecognizer:
    """dlib + FaceRes, fused (see the module docstring). ModelUnavailableError (exit 10) when a model
    file is missing: a threshold measured on the two together means nothing on one."""

    def __init__(self, names: tuple[str, ...] = FUSED_RECOGNIZERS) -> None:
        from faceveil.analysis.recognizers import create_recognizer, recognizer_availability

        missing = [a for a in recognizer_availability() if a.name in names and not a.available]
        if missing:
            raise ModelUnavailableError("--keep/--only need the recognizers " + ", ".join(names) + "; "
                                        + "; ".join(f"{a.name}: {a.reason}" for a in missing))
        self.recognizers: list[Recognizer] = [create_recognizer(n) for n in names]

    def embed(self, rgb: np.ndarray, face: Face) -> Identity | None:
        """The face's identity, or None when it cannot be compared (too small, off the image)."""
        if min(face.width, face.height) < MIN_FACE_SIDE:
            return None
        try:
            return Identity({r.name: _unit(r.embed(rgb, face)) for r in self.recognizers})
        except FaceveilError:  # a box the models refuse (outside the image, too small for dlib)
            return None

    def score(self, a: Identity, b: Identity) -> float:
        """Fused score: mean over recognizers of (cosine - same-person cosine) / impostor spread (the
        vectors are unit length already: embed and centroid normalise them)."""
        parts = [(float(a.vectors[r.name] @ b.vectors[r.name]) - r.same_person_cosine) / SPREAD[r.name]
                 for r in self.recognizers]
        return float(np.mean(parts))


def centroid(identities: list[Identity]) -> Identity:
    """A person from several photos: the normalised mean of the unit vectors, per recognizer."""
    names = identities[0].vectors.keys()
    return Identity({n: _unit(np.mean([i.vectors[n] for i in identities], axis=0)) for n in names})
