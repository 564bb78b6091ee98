"""Box import (``--boxes FILE.json``): faces a person adds or corrects by hand, merged with detections.

A missed face is a leak, and detectors miss some (profiles, tiny or occluded faces); this lets people fix
one without code. The file uses the schema faceveil's ``--json`` output already prints, so the usual loop
is: run with ``--json`` (or ``--preview``), edit or add boxes, run again with ``--boxes``. Accepted:

- the whole ``--json`` output: ``{"files": [{"input": "a.jpg", "faces": [FACE, ...]}, ...]}``;
- one file's entry: ``{"input": "a.jpg", "faces": [...]}``;
- faces for every input: ``{"faces": [...]}`` or a bare ``[FACE, ...]``.

FACE is ``{"box": [x0, y0, x1, y1], "score": s?, "landmarks": [[x, y] x 5]?}`` in image pixels (upright,
as ``--json`` reports them); every other key (``method``, ``rect``, ...) is ignored. For video, a face
applies to every frame unless it says ``"frame": k`` or ``"first_frame"``/``"last_frame"`` (inclusive),
the keys ``--json`` prints for tracks. ``"action"`` says what happens to the face: ``"anonymize"`` (the
default), ``"keep"`` (a real face left untouched on purpose) or ``"ignore"`` (not a face: a false
detection). keep/ignore boxes replace the detection they overlap like any imported box, and the face is
then not anonymized (``faceveil review`` writes them; docs/review.md).

Merge rule (:func:`merge_faces`): an imported box that overlaps a detection with IoU > 0.5 replaces it
(it is the same face, with a box the person prefers; the detector's landmarks are kept when the import
has none); any other imported box is added.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from faceveil.errors import UsageError
from faceveil.faces.types import Face

MERGE_IOU = 0.5
ACTIONS = ("anonymize", "keep", "ignore")


class BoxesFileError(UsageError):
    """The ``--boxes`` file is missing, not JSON, or does not follow the ``--json`` face schema."""


@dataclass(frozen=True)
class ImportedFace:
    """A face from the boxes file; ``frames`` = inclusive (first, last) frame range, None = all frames."""

    face: Face
    frames: tuple[int, int] | None = None
    action: str = "anonymize"  # or "keep" / "ignore" (ACTIONS): the face is then left untouched

    def applies_to(self, frame_index: int | None) -> bool:
        if self.frames is None or frame_index is None:
            return True
        return self.frames[0] <= frame_index <= self.frames[1]


@dataclass(frozen=True)
class ImportedBoxes:
    """The parsed file: faces per input name (key None = faces for every input)."""

    source: Path
    by_input: dict[str | None, tuple[ImportedFace, ...]]

    def for_file(self, path: str | os.PathLike) -> list[ImportedFace]:
        """Faces for ``path``: entries whose ``input`` is this path (as written, resolved, or, when unique,
        by file name), plus the entries for every input."""
        path = Path(path)
        found = list(self.by_input.get(None, ()))
        named = {k: v for k, v in self.by_input.items() if k is not None}
        exact = [v for k, v in named.items() if k == str(path) or _same_file(Path(k), path, self.source)]
        if not exact:
            exact = [v for k, v in named.items() if Path(k).name == path.name]
            if len(exact) > 1:
                raise BoxesFileError(f"{self.source}: several entries are named {path.name!r}; give full paths")
        for faces in exact:
            found += faces
        return found

    def faces_for(self, path: str | os.PathLike, frame_index: int | None = None) -> list[Face]:
        """The imported faces of ``path`` that apply to ``frame_index`` (None: a photo)."""
        return [f.face for f in self.entries_for(path, frame_index)]

    def entries_for(self, path: str | os.PathLike, frame_index: int | None = None) -> list[ImportedFace]:
        """Like :meth:`faces_for`, with each face's frames and action."""
        return [f for f in self.for_file(path) if f.applies_to(frame_index)]


def _same_file(a: Path, b: Path, source: Path) -> bool:
    # relative names in the file are relative to the working directory (how --json prints them), or to
    # the boxes file's folder (a file kept next to the photos)
    candidates = [a] if a.is_absolute() else [a, source.parent / a]
    try:
        target = b.resolve()
        return any(c.resolve() == target for c in candidates)
    except OSError:
        return False


def load_boxes(path: str | os.PathLike) -> ImportedBoxes:
    """Read and validate a boxes file (BoxesFileError, exit code 2, with what is wrong and where)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BoxesFileError(f"--boxes: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxesFileError(f"--boxes: cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoxesFileError(f"--boxes: {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return parse_boxes(data, path)


def parse_boxes(data, source: str | os.PathLike = "<boxes>") -> ImportedBoxes:
    """Validate already-decoded JSON (see the module docstring for the accepted shapes)."""
    source = Path(source)
    if isinstance(data, list):
        entries = [(None, data, "")]
    elif isinstance(data, dict) and "files" in data:
        files = data["files"]
        if not isinstance(files, list):
            raise BoxesFileError(f"--boxes: {source}: \"files\" must be a list")
        entries = []
        for i, entry in enumerate(files):
            if not isinstance(entry, dict) or not isinstance(entry.get("faces", []), list):
                raise BoxesFileError(f"--boxes: {source}: files[{i}] must be an object with a \"faces\" list")
            name = entry.get("input")
            if name is not None and not isinstance(name, str):
                raise BoxesFileError(f"--boxes: {source}: files[{i}].input must be a string")
            entries.append((name, entry.get("faces", []), f"files[{i}]."))
    elif isinstance(data, dict) and "faces" in data:
        name = data.get("input")
        if name is not None and not isinstance(name, str):
            raise BoxesFileError(f"--boxes: {source}: \"input\" must be a string")
        if not isinstance(data["faces"], list):
            raise BoxesFileError(f"--boxes: {source}: \"faces\" must be a list")
        entries = [(name, data["faces"], "")]
    else:
        raise BoxesFileError(f"--boxes: {source}: expected faceveil --json output, {{\"faces\": [...]}} or a list of faces")
    by_input: dict[str | None, list[ImportedFace]] = {}
    for name, faces, where in entries:
        parsed = [_parse_face(face, f"{where}faces[{j}]", source) for j, face in enumerate(faces)]
        by_input.setdefault(name, []).extend(parsed)
    return ImportedBoxes(source, {k: tuple(v) for k, v in by_input.items()})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _parse_face(d, where: str, source: Path) -> ImportedFace:
    def bad(why: str) -> BoxesFileError:
        return BoxesFileError(f"--boxes: {source}: {where}: {why}")

    if not isinstance(d, dict):
        raise bad("a face must be an object with a \"box\"")
    box = d.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
        raise bad("\"box\" must be [x0, y0, x1, y1] (four numbers, image pixels)")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise bad(f"\"box\" {box} is empty: it needs x1 > x0 and y1 > y0")
    score = d.get("score", 1.0)
    if not (_number(score) and 0 <= score <= 1):
        raise bad("\"score\" must be a number in [0, 1]")
    landmarks = d.get("landmarks")
    if landmarks is not None:
        if not (isinstance(landmarks, list) and len(landmarks) == 5
                and all(isinstance(p, list) and len(p) == 2 and all(_number(v) for v in p) for p in landmarks)):
            raise bad("\"landmarks\" must be five [x, y] points (eyes, nose, mouth corners)")
        landmarks = np.asarray(landmarks, dtype=np.float32)
    action = d.get("action", "anonymize")
    if action not in ACTIONS:
        raise bad(f"\"action\" must be one of {', '.join(ACTIONS)}, got {action!r}")
    frames = None
    if "frame" in d:
        if not (isinstance(d["frame"], int) and d["frame"] >= 0):
            raise bad("\"frame\" must be a frame index >= 0")
        frames = (d["frame"], d["frame"])
    elif "first_frame" in d or "last_frame" in d:
        first, last = d.get("first_frame", 0), d.get("last_frame", 2**31)
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
            raise bad("\"first_frame\"/\"last_frame\" must be frame indices with first <= last")
        frames = (first, last)
    return ImportedFace(Face(box=(x0, y0, x1, y1), landmarks=landmarks, score=float(score)), frames, action)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class MergedFaces:
    """Detections merged with imported faces. ``imported``: indices into ``faces`` that came from the
    file (added or replacing a detection); ``replaced``: how many detections were replaced."""

    faces: list[Face]
    imported: tuple[int, ...]
    replaced: int
    actions: tuple[str, ...] = ()  # per face in ``faces`` (ACTIONS); empty: anonymize them all

    def action(self, index: int) -> str:
        return self.actions[index] if self.actions else "anonymize"

    def to_anonymize(self) -> list[Face]:
        """The faces whose action is "anonymize" (a video drops keep/ignore boxes before tracking)."""
        return [f for i, f in enumerate(self.faces) if self.action(i) == "anonymize"]


def merge_faces(detected: Sequence[Face], imported: Sequence[Face], *, iou: float = MERGE_IOU,
                actions: Sequence[str] = ()) -> MergedFaces:
    """Add or replace faces the detector missed or boxed badly (see the module docstring).

    Each imported face replaces the detection it overlaps most if that IoU is > ``iou``; a detection is
    replaced at most once (a second imported box over it is added). Order: detections in place, added
    faces at the end."""
    faces = list(detected)
    taken: set[int] = set()
    imported_idx: list[int] = []
    acts = ["anonymize"] * len(faces)
    for k, new in enumerate(imported):
        action = actions[k] if k < len(actions) else "anonymize"
        best, best_iou = None, iou
        for i, old in enumerate(detected):
            overlap = box_iou(new.box, old.box)
            if i not in taken and overlap > best_iou:
                best, best_iou = i, overlap
        if best is None:
            faces.append(new)
            acts.append(action)
            imported_idx.append(len(faces) - 1)
        else:
            old = detected[best]
            landmarks = new.landmarks if new.landmarks is not None else old.landmarks
            faces[best] = replace(new, landmarks=landmarks, track_id=old.track_id)
            acts[best] = action
            taken.add(best)
            imported_idx.append(best)
    return MergedFaces(faces, tuple(sorted(imported_idx)), len(taken), tuple(acts) if actions else ())
