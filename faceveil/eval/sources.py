"""Where evaluation images come from: a faceveil method run here, or another tool's output folder.

Both yield :class:`EvalItem`: an original photo, its anonymized version, the faces found on the
original (the reference every metric is measured at), and, when available, the key holder's
recovery, a wrong-key recovery and extra anonymizations for diversity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceveil.errors import FaceveilError, InputError, PayloadCorruptError, WrongKeyError
from faceveil.faces.types import Face

from faceveil.io.suffixes import IMAGE_SUFFIXES  # noqa: E402,F401 (public name)


@dataclass
class EvalItem:
    name: str
    original: np.ndarray  # (H, W, 3) uint8 RGB
    anonymized: np.ndarray  # (H, W, 3) uint8 RGB, same size
    faces: list[Face]  # found on the original by the reference detector
    recovered: np.ndarray | None = None  # key holder's recovery
    recovery_kind: str | None = None  # "payload" (exact pixels) or "pixels" (learned inverse)
    wrong_key: np.ndarray | None = None  # recovery attempted with a wrong key (learned methods)
    variants: list[np.ndarray] = field(default_factory=list)  # more anonymizations with fresh keys
    obfuscated: np.ndarray | None = None  # the plain obfuscation a hiding method started from
    payload: dict[int, dict[str, float]] = field(default_factory=dict)  # face index -> payload.* metrics (methods hiding bits)
    floor: np.ndarray | None = None  # every face solid-filled under the same mask: what hair and background alone give


def solid_floor(rgb: np.ndarray, faces: list[Face], mask, region_multiple: int = 1) -> np.ndarray:
    """``rgb`` with each face's masked region filled with flat grey, through the pipeline's own frame call
    (same rectangles and mask as the method): the privacy floor. A recognizer that still "re-identifies"
    this face reads the hair, ears and background the mask leaves, not the face."""
    from faceveil.methods.classical import SolidMethod
    from faceveil.pipeline import anonymize_frame, face_contexts

    fill = SolidMethod()
    fill.region_multiple = region_multiple
    return anonymize_frame(rgb, faces, fill, face_contexts(faces, None, seeds=[0] * len(faces)), mask=mask).rgb


def load_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (EXIF orientation applied, alpha dropped)."""
    from faceveil.io.images import load_image

    return np.ascontiguousarray(load_image(path).rgb())


def list_images(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory")
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _by_stem(directory: Path) -> dict[str, Path]:
    """Relative path without suffix -> file (other tools often change the format, e.g. jpg -> png)."""
    out: dict[str, Path] = {}
    for path in list_images(directory):
        out.setdefault(str(path.relative_to(directory).with_suffix("")), path)
    return out


def original_images(data_dir: Path | None) -> list[tuple[str, np.ndarray | Path]]:
    """(name, image or path) of the originals: ``data_dir``'s images, or the package-shipped faces."""
    if data_dir is None:
        from faceveil.testing import load_samples

        return list(load_samples().items())
    files = _by_stem(Path(data_dir))
    if not files:
        raise InputError(f"no images in {data_dir}")
    return list(files.items())


def folder_items(
    data_dir: Path | None, anonymized_dir: Path, detector, recovered_dir: Path | None = None, skipped: list[str] | None = None
) -> Iterator[EvalItem]:
    """Pair each original with ``anonymized_dir``'s file of the same relative name (any image suffix).

    Originals without a counterpart, or whose counterpart has another size, are skipped and
    reported in ``skipped`` (a list the caller passes in)."""
    from faceveil.pipeline.options import mask_options

    anonymized = _by_stem(anonymized_dir)
    recovered = _by_stem(recovered_dir) if recovered_dir is not None else {}
    skipped = skipped if skipped is not None else []
    if not anonymized:
        raise InputError(f"no images in {anonymized_dir}")
    for name, source in original_images(data_dir):
        if name not in anonymized:
            skipped.append(f"{name}: no anonymized image in {anonymized_dir}")
            continue
        try:
            original = source if isinstance(source, np.ndarray) else load_rgb(source)
            anon = load_rgb(anonymized[name])
            rec = load_rgb(recovered[name]) if name in recovered else None
        except FaceveilError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        if anon.shape != original.shape or (rec is not None and rec.shape != original.shape):
            skipped.append(f"{name}: anonymized/recovered size differs from the original {original.shape[1]}x{original.shape[0]}")
            continue
        faces = detector.detect(original)
        floor = solid_floor(original, faces, mask_options().mask)  # the CLI's default mask: the usual outputs
        yield EvalItem(name, original, anon, faces, rec, "external" if rec is not None else None, floor=floor)


class MethodSource:
    """Runs a faceveil method on originals through ``faceveil anonymize``'s own code
    (:class:`faceveil.pipeline.photo.Anonymizer`: its detector and threshold, mask shape / scale / edge,
    method options and per-face contexts; only encoding and the payload are left out), and recovers as a
    key holder would. Defaults are the CLI's (``--shape auto --mask-scale 1.3``), so eval measures the
    picture a user gets; a test keeps eval's images equal to `anonymize`'s outputs for the same seed."""

    def __init__(self, method: str, options: dict | None = None, detector: str = "centerface", diversity: int = 0,
                 seed: int | str | None = None, *, shape: str | None = None, mask_scale: float | None = None,
                 threshold: float | None = None, detector_options: dict | None = None) -> None:
        """seed: derive the content keys from (seed, the image's pixels), as ``Anonymizer(seed=...)`` does
        (reproducible runs, e.g. benchmarks); None = random keys as in real use."""
        from faceveil.pipeline.options import DEFAULT_MASK_SCALE, DEFAULT_MASK_SHAPE, mask_options
        from faceveil.pipeline.photo import Anonymizer

        if diversity < 0:
            raise InputError("--diversity must be >= 0")
        faces = mask_options(shape or DEFAULT_MASK_SHAPE, DEFAULT_MASK_SCALE if mask_scale is None else mask_scale)
        # payload "none": nothing is sealed here; contexts_for keys every image as a payload run does
        self.anonymizer = Anonymizer(method=method, method_options=options, detector=detector, threshold=threshold,
                                     payload="none", faces=faces, detector_options=detector_options, seed=seed)
        self.method = self.anonymizer.method
        self.detector = self.anonymizer.detector
        self.mask = self.anonymizer.mask
        self.diversity = diversity
        self._keys_made = 0

    @property
    def seed(self) -> int | str | None:
        """The anonymizer's own seed (one place: callers that use ``self.anonymizer`` directly, e.g.
        benchmarks/bench_privacy.py, get the same keys as :meth:`item`)."""
        return self.anonymizer.seed

    @seed.setter
    def seed(self, value: int | str | None) -> None:
        self.anonymizer.seed = value

    def _new_key(self):
        """A fresh content key for extra draws (wrong key, diversity variants)."""
        from faceveil.crypto.envelope import ContentKey

        if self.seed is None:
            return ContentKey.generate()
        self._keys_made += 1
        return ContentKey(hashlib.sha256(f"faceveil-eval/{self.seed}/{self._keys_made}".encode()).digest())

    @property
    def pixel_recoverable(self) -> bool:
        from faceveil.methods.base import PixelRecoverableMethod

        return isinstance(self.method, PixelRecoverableMethod)

    def _anonymize(self, rgb: np.ndarray, faces: list[Face], contexts=None):
        from faceveil.pipeline import face_contexts

        contexts = face_contexts(faces, self._new_key()) if contexts is None else contexts
        return self.anonymizer.anonymize_faces(rgb, faces, contexts), contexts

    def _anonymize_measuring_payload(self, rgb: np.ndarray, faces: list[Face], contexts):
        """``_anonymize``, plus face index -> payload.* metrics when the method hides bits."""
        from faceveil.eval.payload_channel import HiddenBitsMethod, HiddenBitsRecorder, payload_metrics

        if not isinstance(self.method, HiddenBitsMethod):
            return *self._anonymize(rgb, faces, contexts), {}
        recorder = HiddenBitsRecorder(self.method)
        frame = self.anonymizer.anonymize_faces(rgb, faces, contexts, method=recorder)
        return frame, contexts, payload_metrics(recorder, frame.rgb, faces, contexts)

    def obfuscated_reference(self, rgb: np.ndarray, faces: list[Face], contexts) -> np.ndarray | None:
        """The method's pre-obfuscation alone, with the anonymization's own contexts, mask and edge
        (None if the method has none)."""
        from faceveil.eval.obfuscation_reference import ObfuscationReference

        if not ObfuscationReference.supports(self.method):
            return None
        return self.anonymizer.anonymize_faces(rgb, faces, contexts, method=ObfuscationReference(self.method)).rgb

    def _recover_from_pixels(self, anonymized: np.ndarray, outcomes, contexts) -> np.ndarray | None:
        """The key holder's pixel recovery, exactly as ``faceveil recover --from-pixels`` runs it (the
        same pipeline call, with the outcomes recorded at anonymization), or None where the method
        refuses it: a payload-carrying method (G2Face secure) rejects a wrong key or a payload damaged
        beyond its error correction, which the recovery metrics then report as missing instead of
        ending the run."""
        from faceveil.pipeline import recover_outcomes_from_pixels

        try:
            return recover_outcomes_from_pixels(anonymized, outcomes, self.method, contexts, mask=self.mask)
        except (PayloadCorruptError, WrongKeyError):
            return None

    def item(self, name: str, rgb: np.ndarray) -> EvalItem:
        from faceveil.pipeline import changed_regions, face_contexts, restore_regions

        faces = self.anonymizer.find_faces(rgb)
        contexts = self.anonymizer.contexts_for(rgb, faces)
        frame, contexts, payload = self._anonymize_measuring_payload(rgb, faces, contexts)
        if self.pixel_recoverable:
            recovered = self._recover_from_pixels(frame.rgb, frame.outcomes, contexts)
            wrong = self._recover_from_pixels(frame.rgb, frame.outcomes, face_contexts(faces, self._new_key()))
            kind = "pixels"
        else:
            # What `faceveil recover` does with the payload: put the recorded original rectangles back.
            regions = changed_regions(rgb, frame.rgb, [o.rect for o in frame.outcomes])
            recovered, wrong, kind = restore_regions(frame.rgb, regions), None, "payload"
        variants = [self._anonymize(rgb, faces)[0].rgb for _ in range(self.diversity)]
        obfuscated = self.obfuscated_reference(rgb, faces, contexts)
        floor = solid_floor(rgb, faces, self.mask, self.method.region_multiple)
        return EvalItem(name, rgb, frame.rgb, list(faces), recovered, kind, wrong, variants, obfuscated, payload, floor)

    def items(self, data_dir: Path | None, skipped: list[str] | None = None) -> Iterator[EvalItem]:
        skipped = skipped if skipped is not None else []
        for name, source in original_images(data_dir):
            try:
                rgb = source if isinstance(source, np.ndarray) else load_rgb(source)
            except FaceveilError as exc:
                skipped.append(f"{name}: {exc}")
                continue
            yield self.item(name, rgb)
