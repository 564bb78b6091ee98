"""Who is anonymized: ``--keep REF`` (faces of these people stay untouched) and ``--only REF`` (only
faces of these people are anonymized), matched with the fused offline recognizers (analysis.identity).

A reference is an image with exactly one face, or a folder of one person's photos (each with exactly
one face); anything else is an InputError (exit 3) naming the file. Each reference becomes one person:
the centroid of its photos' embeddings, kept in memory only.

Photos decide per face; videos per track (pipeline.video: a track matches when most of its confident,
comparable frames match), so a person never flickers between kept and hidden. A face too small or too
cut to compare is anonymized in both modes: leaving an unknown face visible is the failure to avoid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceveil.analysis.identity import MATCH_THRESHOLD, FusedRecognizer, Identity, centroid
from faceveil.errors import InputError, UsageError
from faceveil.faces.types import Face
from faceveil.io.images import load_image
from faceveil.io.suffixes import IMAGE_SUFFIXES

# Video: frames whose detection score is at least this count as confident (compared with the references).
CONFIDENT_SCORE = 0.5
# Video: compare at most this many frames per track (evenly spread by taking every n-th confident frame).
SAMPLE_EVERY = 5
MAX_SAMPLES = 24


@dataclass(frozen=True)
class Decision:
    """One face's (or track's) fate: anonymize it or not, and why (for --json / inspect)."""

    anonymize: bool
    reason: str = ""
    match: float | None = None  # best fused score against the references (None: not comparable)
    reference: str | None = None  # the matching reference's file name (--json only, not the payload)

    def record(self, face: Face, *, with_reference: bool = True) -> dict:
        d = {"box": [round(float(v), 2) for v in face.box], "score": round(float(face.score), 4), "reason": self.reason}
        if self.match is not None:
            d["match"] = round(self.match, 3)
        if with_reference and self.reference is not None:
            d["reference"] = self.reference
        if face.track_id is not None:
            d["track_id"] = int(face.track_id)
        return d


@dataclass
class Reference:
    path: Path
    identity: Identity = field(repr=False)


def _reference_images(path: Path) -> list[Path]:
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise InputError(f"{path}: no image in this reference folder")
        return images
    if not path.exists():
        raise InputError(f"{path}: no such reference file")
    return [path]


class FaceSelector:
    """Decides, for ``--keep`` or ``--only``, which faces are anonymized (see the module docstring)."""

    def __init__(self, keep: Sequence[Path] = (), only: Sequence[Path] = (), *, detector,
                 recognizer: FusedRecognizer | None = None, threshold: float = MATCH_THRESHOLD) -> None:
        if keep and only:
            raise UsageError("--keep and --only cannot be combined: --keep leaves people visible, --only hides only them")
        if not keep and not only:
            raise UsageError("a face selector needs --keep or --only references")
        self.mode = "keep" if keep else "only"
        self.threshold = threshold
        self.recognizer = recognizer or FusedRecognizer()
        self.references = [self._load(Path(p), detector) for p in (keep or only)]

    def _load(self, path: Path, detector) -> Reference:
        identities = []
        for image in _reference_images(path):
            rgb = load_image(image).rgb()
            faces = detector.detect(rgb)
            # a faint detection in the background (score < 0.5) does not make a portrait a group photo
            faces = [f for f in faces if f.score >= CONFIDENT_SCORE] or faces
            if len(faces) != 1:
                what = "no face found" if not faces else f"{len(faces)} faces found"
                raise InputError(f"{image}: {what}; a --{self.mode} reference must show exactly one face")
            identity = self.recognizer.embed(rgb, faces[0])
            if identity is None:
                raise InputError(f"{image}: the face is too small or too cut to recognise; use a larger photo as --{self.mode} reference")
            identities.append(identity)
        return Reference(path, centroid(identities))

    def best_match(self, identity: Identity | None) -> tuple[float | None, Reference | None]:
        if identity is None:
            return None, None
        scores = [self.recognizer.score(identity, r.identity) for r in self.references]
        best = int(np.argmax(scores))
        return scores[best], self.references[best]

    def decide_match(self, matched: bool, score: float | None, ref: Reference | None, what: str = "face") -> Decision:
        """Anonymize or not, from whether the face (or track) matched a reference."""
        if score is None:
            return Decision(True, f"{what} too small or cut to recognise: anonymized")
        name = ref.path.name if ref is not None else None
        if self.mode == "keep":
            if matched:
                return Decision(False, f"kept: matches a --keep reference ({score:.2f} >= {self.threshold:.2f})", score, name)
            return Decision(True, "", score)
        if matched:
            return Decision(True, "", score, name)
        return Decision(False, f"kept: matches no --only reference (best {score:.2f} < {self.threshold:.2f})", score)

    def decide(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[Decision]:
        """One decision per face of a photo."""
        out = []
        for face in faces:
            score, ref = self.best_match(self.recognizer.embed(rgb, face))
            out.append(self.decide_match(score is not None and score >= self.threshold, score, ref))
        return out


class TrackVotes:
    """Video: per track, the fused scores of a sample of its confident frames; a track matches when
    most of its compared frames match (ties do not match)."""

    def __init__(self, selector: FaceSelector) -> None:
        self.selector = selector
        self.seen: dict[int, int] = {}  # track id -> confident frames seen
        self.scores: dict[int, list[float]] = {}
        self.refs: dict[int, list[Reference]] = {}
        self.first_frame: dict[int, int] = {}

    def observe(self, frame_index: int, rgb: np.ndarray, face: Face, bridged: bool) -> None:
        tid = int(face.track_id)
        self.first_frame.setdefault(tid, frame_index)
        if bridged or face.score < CONFIDENT_SCORE:
            return
        n = self.seen.get(tid, 0)
        self.seen[tid] = n + 1
        if n % SAMPLE_EVERY or len(self.scores.get(tid, ())) >= MAX_SAMPLES:
            return
        score, ref = self.selector.best_match(self.selector.recognizer.embed(rgb, face))
        if score is not None:
            self.scores.setdefault(tid, []).append(score)
            self.refs.setdefault(tid, []).append(ref)

    def decisions(self) -> dict[int, Decision]:
        """Track id -> decision, for every track seen."""
        out = {}
        th = self.selector.threshold
        for tid in self.first_frame:
            scores = self.scores.get(tid, [])
            if not scores:
                out[tid] = self.selector.decide_match(False, None, None, "track")
                continue
            votes = sum(s >= th for s in scores)
            matched = votes * 2 > len(scores)
            hits = [r for s, r in zip(scores, self.refs[tid]) if s >= th] or self.refs[tid]
            decision = self.selector.decide_match(matched, float(np.median(scores)), hits[0], "track")
            if decision.reason:
                decision = Decision(decision.anonymize, f"{decision.reason}; {votes}/{len(scores)} compared frames match",
                                    decision.match, decision.reference)
            out[tid] = decision
        return out
