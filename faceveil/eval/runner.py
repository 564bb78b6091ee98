"""Compute every metric for a stream of :class:`~faceveil.eval.sources.EvalItem`.

Per face (boxes from the reference detector on the original) we measure, where the models exist:

- ``identity.<anonymized|recovered|wrong_key>.<recognizer>``: cosine similarity to the original face;
  ``same_person.<...>.<recognizer>``: fraction judged the same person at the recognizer's threshold;
- ``detected.<detector>``: the anonymized face is still found (IoU >= 0.3 with that detector's box on
  the original; faces that detector misses on the original are left out), ``box_distance.<detector>``
  (pixels) and ``box_distance_rel.<detector>`` (/ original box diagonal);
- ``landmarks68_nme`` (dlib) and ``facemesh_nme`` (468 points): mean point distance / inter-ocular;
- ``pose_distance`` (degrees), ``shape_distance`` and ``expression_distance`` (pose-normalised mesh);
- ``recovery.<mae|psnr|ssim|ms_ssim>`` and ``wrong_key.<...>`` on the face region (box + 20 %);
- ``protected_vs_obfuscated.<...>`` (hiding methods such as PRO-Face S): the same image metrics
  between the anonymized face and the plain obfuscation it was made from, and
  ``identity.obfuscated.<recognizer>``;
- ``diversity.<recognizer>``: mean pairwise cosine distance of the face's extra anonymizations;
- ``payload.bit_error_rate.<crop|clean|png|jpeg90>`` and ``payload.decoded_rate.<...>`` (methods hiding
  bits, e.g. G2Face; measured by the source, see faceveil.eval.payload_channel).

Dataset level: ``fed.<recognizer>``, the Fréchet embedding distance between original and anonymized
face embeddings (a FID-like realism proxy over a recognizer, *not* FID).

With the user's standard weights (faceveil.analysis.perceptual): ``lpips.<anonymized|recovered>``
per face and ``fid`` (face crops, original vs anonymized) for the dataset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from faceveil.errors import FaceveilError
from faceveil.eval import metrics as M
from faceveil.eval.sources import EvalItem
from faceveil.faces.types import Face
from faceveil.plugins import DETECTORS

ALL_DETECTORS = tuple(DETECTORS.names())  # every registered detector (faceveil.plugins)
# Detection rate by default: every detector but dlib's CNN, which costs more on a CPU (~4 s a call) than all
# other metrics of a face together; name it with --rate-detector dlib-mmod to include it.
DEFAULT_RATE_DETECTORS = tuple(n for n in ALL_DETECTORS if n != "dlib-mmod")
# Under ~30 px wide the recognizers see a few pixels of face and the detectors' hits there are often not faces
# at all (issue 20: 12-25 px false detections in group photos); such faces are listed, not averaged in.
MIN_FACE = 30.0
RECOVERY_MARGIN = 0.2  # face region for recovery metrics: box grown by 20 % of its size per side


@dataclass(frozen=True)
class EvalConfig:
    recognizers: tuple[str, ...] | None = None  # None: every available one not used in training
    detectors: tuple[str, ...] = DEFAULT_RATE_DETECTORS
    landmarks68: bool = True
    facemesh: bool = True
    perceptual: bool = True  # LPIPS and FID, when their user-supplied weights are present
    method: str | None = None  # the evaluated method (decides which recognizer is excluded)
    # who is who for re-identification by ranking: image name -> person (faces of one-face photos of the
    # same person count as one identity); unnamed faces are each their own person
    identities: dict[str, str] = field(default_factory=dict)
    min_face: float = MIN_FACE  # faces whose box is narrower (px) are listed apart (faces.small), not averaged in


@dataclass
class EvalResult:
    metrics: dict[str, M.Summary]
    dataset: dict[str, float]
    per_face: list[dict]
    notes: list[str]
    models: dict[str, list[str]]  # metric family -> models that measured it
    embeddings: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)  # recognizer -> role -> (D,)
    diversity_points: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # recognizer -> (face label, emb)
    small_faces: list[dict] = field(default_factory=list)  # faces under EvalConfig.min_face, not measured
    thresholds: dict[str, float] = field(default_factory=dict)  # recognizer -> its same-person cosine

    def to_dict(self) -> dict:
        return {
            "metrics": {k: v.to_dict() for k, v in sorted(self.metrics.items())},
            "dataset": {k: (None if not math.isfinite(v) else round(v, 6)) for k, v in sorted(self.dataset.items())},
            "models": self.models,
            "notes": self.notes,
            "per_face": self.per_face,
            "small_faces": self.small_faces,
        }


class AnalysisModels:
    """The recognizers, detectors and landmark models of one evaluation, created once; anything
    unavailable is left out with a note instead of failing the run."""

    def __init__(self, config: EvalConfig) -> None:
        from faceveil.analysis.detectors import create_eval_detector
        from faceveil.analysis.recognizers import create_recognizer, default_recognizers

        self.notes: list[str] = []
        names, notes = default_recognizers(config.method, list(config.recognizers) if config.recognizers else None)
        self.notes += notes
        self.recognizers = {n: create_recognizer(n) for n in names}
        self.detectors = {}
        for name in config.detectors:
            try:
                self.detectors[name] = create_eval_detector(name)
            except FaceveilError as exc:
                self.notes.append(f"detector {name}: not available ({exc})")
        self.landmarks68 = self.facemesh = None
        if config.landmarks68:
            from faceveil.analysis.dlib_models import DlibLandmarks68

            self.landmarks68 = DlibLandmarks68()
        if config.facemesh:
            from faceveil.analysis.mediapipe_models import FaceMesh

            self.facemesh = FaceMesh()
        self.lpips = self.fid = None
        if config.perceptual:
            self._init_perceptual()

    def _init_perceptual(self) -> None:
        from faceveil.analysis import perceptual as P
        from faceveil.models_registry import user_weight

        missing = lambda *files: [f for f in files if user_weight(f)() is None]  # noqa: E731
        if not (lacking := missing(P.ALEXNET_FILE, P.LPIPS_ALEX_FILE)):
            self.lpips = P.Lpips()
        else:
            self.notes.append(f"LPIPS not computed: user weights {', '.join(lacking)} missing in $FACEVEIL_WEIGHTS")
        if not missing(P.FID_INCEPTION_FILE):
            self.fid = P.FidFeatures()
        else:
            self.notes.append(f"FID not computed: {P.FID_INCEPTION_FILE} missing in $FACEVEIL_WEIGHTS (fed.<recognizer> is reported instead)")

    def guarded(self, what: str, fn: Callable[[], float | None]) -> float | None:
        """Run one measurement; a model that turns out to be missing disables it with a note."""
        try:
            return fn()
        except FaceveilError as exc:
            note = f"{what}: {exc}"
            if note not in self.notes:
                self.notes.append(note)
            return None


def face_region(face: Face, shape: tuple[int, ...], margin: float = RECOVERY_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer pixel region of the box grown by ``margin``, clipped to the image."""
    x0, y0, x1, y1 = face.box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = shape[:2]
    return max(int(x0 - mx), 0), max(int(y0 - my), 0), min(int(math.ceil(x1 + mx)), w), min(int(math.ceil(y1 + my)), h)


def _safe(fn: Callable[[], float]) -> float:
    try:
        return float(fn())
    except FaceveilError:
        return math.nan  # e.g. SSIM on a face region too small for its window


def recovery_metrics(original: np.ndarray, other: np.ndarray, face: Face) -> dict[str, float]:
    x0, y0, x1, y1 = face_region(face, original.shape)
    a, b = original[y0:y1, x0:x1], other[y0:y1, x0:x1]
    if a.size == 0:
        return {}
    psnr = M.psnr(a, b)
    return {
        "mae": M.mae(a, b),
        # An exact recovery has infinite PSNR; JSON has no infinity, so report 100 dB ("lossless") instead.
        "psnr": min(psnr, 100.0),
        "ssim": _safe(lambda: M.ssim(a, b)),
        "ms_ssim": _safe(lambda: M.ms_ssim(a, b)),
    }


DETECTION_CONTEXT = 1.0  # detection rate is measured on the face box grown by this much per side


def _detection_metrics(models: AnalysisModels, item: EvalItem, record: dict[str, dict], faces: list[Face]) -> None:
    """Each detector on a window around each face (the box grown by DETECTION_CONTEXT per side), original
    and anonymized: the same pixels at the same scale as in the whole photo, without running the slow
    detectors (dlib's CNN: ~4 s a photo on a CPU) over background they never judge."""
    for i, face in enumerate(faces):
        x0, y0, x1, y1 = face_region(face, item.original.shape, DETECTION_CONTEXT)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        box = (face.box[0] - x0, face.box[1] - y0, face.box[2] - x0, face.box[3] - y0)
        original = np.ascontiguousarray(item.original[y0:y1, x0:x1])
        anonymized = np.ascontiguousarray(item.anonymized[y0:y1, x0:x1])
        for name, detector in models.detectors.items():
            on_original = [f.box for f in detector.detect(original)]
            ref = M.match_box(box, on_original)
            if ref is None:
                continue  # this detector misses the original face: it says nothing about anonymization
            on_anonymized = [f.box for f in detector.detect(anonymized)]
            hit = M.match_box(on_original[ref], on_anonymized)
            record[i][f"detected.{name}"] = float(hit is not None)
            if hit is not None:
                a, b = on_original[ref], on_anonymized[hit]
                record[i][f"box_distance.{name}"] = M.box_distance(a, b)
                record[i][f"box_distance_rel.{name}"] = M.box_distance(a, b) / math.hypot(a[2] - a[0], a[3] - a[1])


def _geometry_metrics(models: AnalysisModels, item: EvalItem, face: Face, out: dict) -> None:
    from faceveil.analysis.mesh_geometry import EYE_OUTER, expression_descriptor, head_pose, shape_descriptor

    if models.landmarks68 is not None:
        a = models.landmarks68.landmarks(item.original, face)
        b = models.landmarks68.landmarks(item.anonymized, face)
        inter_ocular = float(np.linalg.norm(a[36] - a[45]))  # outer eye corners in iBUG order
        if inter_ocular > 0:
            out["landmarks68_nme"] = M.landmark_distance(a, b, inter_ocular)
    if models.facemesh is not None:
        mesh_a = models.guarded("FaceMesh", lambda: models.facemesh.mesh(item.original, face).points)
        mesh_b = models.guarded("FaceMesh", lambda: models.facemesh.mesh(item.anonymized, face).points)
        if mesh_a is None or mesh_b is None:
            return
        inter_ocular = float(np.linalg.norm(mesh_a[EYE_OUTER[0], :2] - mesh_a[EYE_OUTER[1], :2]))
        if inter_ocular > 0:
            out["facemesh_nme"] = M.landmark_distance(mesh_a[:, :2], mesh_b[:, :2], inter_ocular)
        out["pose_distance"] = M.pose_distance(head_pose(mesh_a).as_array(), head_pose(mesh_b).as_array())
        out["shape_distance"] = M.descriptor_distance(shape_descriptor(mesh_a), shape_descriptor(mesh_b))
        out["expression_distance"] = M.descriptor_distance(expression_descriptor(mesh_a), expression_descriptor(mesh_b))


def _perceptual_metrics(models: AnalysisModels, item: EvalItem, face: Face, out: dict, fid_crops: dict[str, list[np.ndarray]]) -> None:
    x0, y0, x1, y1 = face_region(face, item.original.shape)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return
    crop = lambda image: image[y0:y1, x0:x1]  # noqa: E731
    if models.lpips is not None:
        for role, image in (("anonymized", item.anonymized), ("recovered", item.recovered)):
            if image is not None:
                value = models.guarded("LPIPS", lambda image=image: models.lpips.distance(crop(item.original), crop(image)))
                if value is not None:
                    out[f"lpips.{role}"] = value
    if models.fid is not None:
        fid_crops["original"].append(crop(item.original).copy())
        fid_crops["anonymized"].append(crop(item.anonymized).copy())


@dataclass
class _Collected:
    """What the dataset-level metrics and plots need from all faces."""

    embeddings: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    diversity_points: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=lambda: defaultdict(list))
    fid_crops: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"original": [], "anonymized": []})
    # recognizer -> (person id, per_face row index) of each face with an original embedding
    people: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))


def _identity_metrics(models: AnalysisModels, item: EvalItem, index: int, face: Face, out: dict, collected: _Collected,
                      person: str, row: int) -> None:
    compared = {"anonymized": item.anonymized, "recovered": item.recovered, "wrong_key": item.wrong_key,
                "obfuscated": item.obfuscated, "floor": item.floor}
    for rname, rec in models.recognizers.items():
        ref = models.guarded(f"recognizer {rname}", lambda rec=rec: rec.embed(item.original, face))
        if ref is None:
            continue
        collected.embeddings[rname]["original"].append(ref)
        collected.people[rname].append((person, row))
        for role, image in compared.items():
            if image is None:
                continue
            # an exact recovery (the payload) is the original: same embedding, no second run
            emb = ref if role == "recovered" and _same_region(item.original, image, face) else rec.embed(image, face)
            collected.embeddings[rname][role].append(emb)
            sim = rec.similarity(ref, emb)
            out[f"identity.{role}.{rname}"] = sim
            out[f"same_person.{role}.{rname}"] = float(rec.same_person(ref, emb))
        if len(item.variants) >= 2:
            variant_embs = np.stack([rec.embed(v, face) for v in item.variants])
            out[f"diversity.{rname}"] = M.identity_diversity(variant_embs)
            collected.diversity_points[rname] += [(f"{item.name}#{index}", e) for e in variant_embs]


def _same_region(a: np.ndarray, b: np.ndarray, face: Face) -> bool:
    x0, y0, x1, y1 = face_region(face, a.shape, 1.0)
    return bool(np.array_equal(a[y0:y1, x0:x1], b[y0:y1, x0:x1]))


def _image_metrics(item: EvalItem, face: Face, out: dict) -> None:
    """Pixel-level comparisons on the face region: recovery, wrong key, protected vs obfuscated."""
    pairs = (("recovery", item.original, item.recovered), ("wrong_key", item.original, item.wrong_key), ("protected_vs_obfuscated", item.obfuscated, item.anonymized))
    for prefix, reference, other in pairs:
        if reference is not None and other is not None:
            out |= {f"{prefix}.{k}": v for k, v in recovery_metrics(reference, other, face).items()}


def _dataset_metrics(models: AnalysisModels, collected: _Collected) -> dict[str, float]:
    dataset = {}
    for rname, roles in collected.embeddings.items():
        if len(roles["original"]) >= 2 and len(roles["anonymized"]) >= 2:
            dataset[f"fed.{rname}"] = M.frechet_embedding_distance(np.stack(roles["original"]), np.stack(roles["anonymized"]))
    crops = collected.fid_crops
    if models.fid is not None and len(crops["original"]) >= 2:
        fid = models.guarded("FID", lambda: M.frechet_embedding_distance(models.fid.features(crops["original"]), models.fid.features(crops["anonymized"])))
        if fid is not None:
            dataset["fid"] = fid
    return dataset


def evaluate(items: Iterable[EvalItem], config: EvalConfig, models: AnalysisModels | None = None, on_item: Callable[[EvalItem], None] | None = None) -> EvalResult:
    """Measure every item; ``on_item`` is called after each (the report saves its image grid there)."""
    models = models or AnalysisModels(config)
    per_face: list[dict] = []
    collected = _Collected()
    n_items = 0
    small: list[dict] = []
    for item in items:
        n_items += 1
        record: dict[int, dict] = {i: {} for i in range(len(item.faces))}
        _detection_metrics(models, item, record, item.faces)
        for i, face in enumerate(item.faces):
            out = record[i]
            width = face.box[2] - face.box[0]
            if width < config.min_face:  # too small to say anything about identity: listed apart
                small.append({"image": item.name, "face": i, "box": [round(v, 1) for v in face.box]})
                continue
            person = config.identities.get(item.name) if len(item.faces) == 1 else None
            _identity_metrics(models, item, i, face, out, collected, person or f"{item.name}#{i}", len(per_face))
            _geometry_metrics(models, item, face, out)
            _image_metrics(item, face, out)
            _perceptual_metrics(models, item, face, out, collected.fid_crops)
            out |= item.payload.get(i, {})
            values = {k: round(float(v), 6) for k, v in out.items() if math.isfinite(v)}
            per_face.append({"image": item.name, "face": i, "box": [round(v, 1) for v in face.box]} | values)
        if on_item is not None:
            on_item(item)

    notes = list(models.notes)
    if n_items and not per_face and not small:
        notes.append("the reference detector found no face in any original image: nothing to measure")
    if small:
        notes.append(f"{len(small)} face(s) under {config.min_face:g} px wide measured apart, not averaged in "
                     "(faces.small in metrics.json)")
    dataset = _dataset_metrics(models, collected) | _ranking(collected, per_face)
    dataset["faces.measured"] = float(len(per_face))
    dataset["faces.small"] = float(len(small))
    result = EvalResult(
        _aggregate(per_face), dataset, per_face, notes, _models_used(models),
        {k: dict(v) for k, v in collected.embeddings.items()}, dict(collected.diversity_points),
    )
    result.small_faces = small
    result.thresholds = {n: float(getattr(r, "same_person_cosine", math.nan)) for n, r in models.recognizers.items()}
    return result


def _ranking(collected: _Collected, per_face: list[dict]) -> dict[str, float]:
    """Re-identification by ranking: each anonymized face (and its solid-fill floor) against a gallery of
    every original face, per recognizer; rank-k hits go into the face rows (``rank<k>.<role>.<rec>``,
    so their means are the rates), chance levels into the dataset metrics."""
    dataset: dict[str, float] = {}
    for rname, roles in collected.embeddings.items():
        people = collected.people[rname]
        if len(people) < 2:
            continue
        ids, rows = [p for p, _ in people], [r for _, r in people]
        gallery = np.stack(roles["original"])
        for role in ("anonymized", "floor", "obfuscated"):
            probes = roles.get(role, [])
            if len(probes) != len(ids):
                continue
            for row, hits in zip(rows, M.rank_hits(np.stack(probes), gallery, ids, ids)):
                per_face[row] |= {f"rank{k}.{role}.{rname}": v for k, v in hits.items()}
        for k, v in M.rank_chance(ids, ids).items():
            dataset[f"rank{k}.chance.{rname}"] = v
        dataset[f"gallery.{rname}"] = float(len(ids))
    return dataset


def _aggregate(per_face: list[dict]) -> dict[str, M.Summary]:
    """mean ± std per metric over faces; a face missing a measured metric counts as missing."""
    keys = sorted({k for row in per_face for k in row if k not in ("image", "face", "box")})
    return {k: M.summarize([row.get(k, math.nan) for row in per_face]) for k in keys}


def _models_used(models: AnalysisModels) -> dict[str, list[str]]:
    used = {
        "identity, same_person, diversity, fed": sorted(models.recognizers),
        "detected, box_distance": sorted(models.detectors),
    }
    if models.landmarks68 is not None:
        used["landmarks68_nme"] = ["dlib shape_predictor_68"]
    if models.facemesh is not None:
        used["facemesh_nme, pose_distance, shape_distance, expression_distance"] = ["MediaPipe FaceMesh (human-models)"]
    if models.lpips is not None:
        used["lpips"] = ["LPIPS v0.1 AlexNet (user weights)"]
    if models.fid is not None:
        used["fid"] = ["FID Inception 2015-12-05 (user weights)"]
    return used
