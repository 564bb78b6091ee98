"""TAR@FAR on a verification-pairs protocol with the second image of each pair anonymized
(G2Face Table I): can a recognizer still match an anonymized photo to another photo of the person?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceveil.errors import FaceveilError
from faceveil.eval import metrics as M
from faceveil.eval.pairs import VerificationPair
from faceveil.eval.sources import load_rgb
from faceveil.faces.types import Face

Anonymize = Callable[[Path, np.ndarray], np.ndarray]  # (path of the second image, its rgb) -> anonymized rgb


@dataclass(frozen=True)
class VerificationResult:
    recognizer: str
    original: M.TarAtFar  # both images original: the protocol's baseline
    anonymized: M.TarAtFar  # second image anonymized

    def to_dict(self) -> dict:
        pick = lambda t: {"tar": round(t.tar, 6), "far": round(t.far, 6), "threshold": round(t.threshold, 6), "n_genuine": t.n_genuine, "n_impostor": t.n_impostor}  # noqa: E731
        return {"original": pick(self.original), "anonymized": pick(self.anonymized)}


def _largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.width * f.height) if faces else None


def evaluate_pairs(
    pairs: list[VerificationPair], anonymize: Anonymize, recognizers: dict, detector, target_far: float, skipped: list[str]
) -> list[VerificationResult]:
    """Score every pair with every recognizer, with and without anonymizing the second image.
    Pairs whose images are unreadable or faceless are skipped (reported in ``skipped``)."""
    scores: dict[str, dict[str, list[float]]] = {r: {"original": [], "anonymized": []} for r in recognizers}
    labels: list[bool] = []
    cache: dict[Path, tuple[np.ndarray, Face | None]] = {}

    def load(path: Path) -> tuple[np.ndarray, Face | None]:
        if path not in cache:
            rgb = load_rgb(path)
            cache[path] = (rgb, _largest(detector.detect(rgb)))
            if len(cache) > 64:  # pairs files reuse images nearby; keep memory bounded
                cache.pop(next(iter(cache)))
        return cache[path]

    for pair in pairs:
        try:
            first, face_1 = load(pair.first)
            second, face_2 = load(pair.second)
            if face_1 is None or face_2 is None:
                skipped.append(f"{pair.first.name} / {pair.second.name}: no face found")
                continue
            anonymized = anonymize(pair.second, second)
        except FaceveilError as exc:
            skipped.append(f"{pair.first.name} / {pair.second.name}: {exc}")
            continue
        labels.append(pair.same)
        for name, rec in recognizers.items():
            ref = rec.embed(first, face_1)
            scores[name]["original"].append(rec.similarity(ref, rec.embed(second, face_2)))
            # the anonymized face is measured at the original's box, as in the per-face metrics
            scores[name]["anonymized"].append(rec.similarity(ref, rec.embed(anonymized, face_2)))
    if not labels:
        return []
    return [
        VerificationResult(name, M.tar_at_far(s["original"], labels, target_far), M.tar_at_far(s["anonymized"], labels, target_far))
        for name, s in scores.items()
    ]
