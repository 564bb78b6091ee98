"""Photos: load → detect → frame pipeline → seal → place the payload; recover; inspect.

anonymize:  detect faces on RGB → anonymize them (pipeline.frame) → record the original pixels of
            every changed rectangle → encode the output → hash the *decoded* output pixels → seal the
            container (hash bound as associated data) → embed and/or sidecar (pipeline.placement).
recover:    find payload → read header (no key) → open with key → check the pixel hash → put the
            original rectangles back (→ bit-exact for lossless outputs), or, ``from_pixels``, run the
            method's inverse on the recorded faces.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceveil.crypto.container import MAX_SOURCE_BYTES, ContainerInfo, open_container, read_info, seal, verify_pixels
from faceveil.crypto.envelope import ContentKey
from faceveil.errors import FaceveilError, InputError, KeyMaterialError, NoFacesError, PayloadMissingError, UsageError
from faceveil.faces.boxes import MergedFaces
from faceveil.faces.detect import create_detector
from faceveil.faces.mask import MaskSpec
from faceveil.faces.types import Face
from faceveil.io.atomic import PRIVATE_MODE, atomic_write_bytes, atomic_write_files
from faceveil.io.carriers import embed_payload, sidecar_path
from faceveil.io.images import DEFAULT_MAX_PIXELS, METADATA_FIELDS, ImageMetadata, LoadedImage, decode_image, encode_image, format_for_path, load_image, merge_rgb
from faceveil.methods.base import PixelRecoverableMethod, create_method, hides_in_pixels
from faceveil.pipeline.frame import (
    FrameResult,
    anonymize_frames,
    changed_regions,
    face_contexts,
    face_from_dict,
    pixel_digest,
    recover_outcomes_from_pixels,
    restore_regions,
)
from faceveil.pipeline.options import FaceOptions
from faceveil.pipeline.pixel_only import check_format as check_pixel_format
from faceveil.pipeline.pixel_only import check_pixel_only, passphrase_of, recover_from_pixels, seal_into_pixels, supports_pixel_only
from faceveil.pipeline.pixel_only import image_keys as pixel_image_keys
from faceveil.pipeline.placement import DEFAULT_PAYLOAD, PayloadMode, check_payload_mode, find_photo_payload, photo_places
from faceveil.pipeline.report import FileReport
from faceveil.plugins import DEFAULT_DETECTOR, DEFAULT_METHOD
from faceveil.runtime import RuntimeOptions

_METADATA_SECRETS = METADATA_FIELDS  # exif, icc_profile, xmp, jpeg_segments, png_chunks
# Source coding of a photo payload (container version 2) leaves a clear header note, so `inspect` can
# say without a key that recovery returns the original file.
SOURCE_EXTRA = "source_file"


class Anonymizer:
    """Anonymizes images one after another with one detector, one method and one set of recipients."""

    def __init__(
        self,
        *,
        method: str = DEFAULT_METHOD,
        method_options: dict | None = None,
        detector: str = DEFAULT_DETECTOR,
        threshold: float | None = None,
        recipients: Sequence = (),
        payload: PayloadMode = DEFAULT_PAYLOAD,
        keep_metadata: bool = False,
        keep_icc: bool = False,
        quality: int | None = None,
        require_faces: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        seed: int | None = None,
        faces: FaceOptions = FaceOptions(),
        detector_options: dict | None = None,
    ):
        """``seed``: derive each image's content key from (seed, its pixels) instead of at random, so
        the same input gives the same output pixels on any machine (tests, benchmarks, comparing a
        cluster run with a local one). Not for real use: whoever knows the seed and an original can
        derive that image's key. ``detector_options``: the detector's config keywords (``threshold``
        may also be given alone); ``faces``: mask, imported boxes, preview and overlays
        (pipeline.options.FaceOptions). ``quality``: JPEG output quality; None = the JPEG input's own
        quantization tables and chroma subsampling (a matched quality: the output is about the input's
        size), or 95 for a non-JPEG input."""
        check_payload_mode(payload)
        if faces.preview:  # a preview writes no payload, so it needs no key
            payload, recipients = "none", []
        if payload != "none" and not recipients:
            raise KeyMaterialError(
                "no key for the recovery payload: give a passphrase (prompt, --password-file or "
                "FACEVEIL_PASSPHRASE) or --recipient PUBLIC_KEY, or use --payload none (irreversible)"
            )
        if quality is not None and not 1 <= quality <= 100:
            raise UsageError(f"--quality must be in 1..100, got {quality}")
        self.method = create_method(method, **(method_options or {}))
        self.method.check_can_anonymize()
        # --payload none + a passphrase + a method that hides faces in their own pixels: pixel-only
        # mode (pipeline/pixel_only.py); otherwise --payload none stays irreversible
        self.pixel_key = (check_pixel_only(self.method, recipients)
                          if payload == "none" and supports_pixel_only(self.method) and passphrase_of(recipients)
                          else None)
        det_config = dict(detector_options or {}) | ({} if threshold is None else {"threshold": threshold})
        self.detector = create_detector(detector, **det_config)
        self.recipients = list(recipients)
        self.payload = payload
        self.keep_metadata = keep_metadata
        self.keep_icc = keep_icc
        self.quality = quality
        self.require_faces = require_faces
        self.faces = faces
        self.max_pixels = max_pixels
        self.seed = seed

    def _content_key(self, pixels: np.ndarray) -> ContentKey:
        if self.seed is None:
            return ContentKey.generate()
        digest = hashlib.sha256(repr((pixels.shape, str(pixels.dtype))).encode() + pixels.tobytes()).digest()
        return ContentKey(hashlib.sha256(f"faceveil/seed/{self.seed}/".encode() + digest).digest())

    def anonymize_image(self, image: LoadedImage, fmt: str, faces: Sequence[Face] | None = None) -> tuple[bytes, bytes | None, FileReport]:
        """Anonymize a loaded image; returns (encoded output bytes without payload, container or None, report)."""
        return _raise_or(self.anonymize_images([(image, fmt, faces)])[0])

    def anonymize_images(self, batch: Sequence[tuple[LoadedImage, str, Sequence[Face] | None]]) -> list[tuple[bytes, bytes | None, FileReport] | Exception]:
        """:meth:`anonymize_image` for several (image, format, faces or None) at once, with one
        ``anonymize_frames`` call for all their faces (learned methods batch them). Each entry is that
        image's result, or the exception its single-image call would have raised (a bad image fails
        alone). Outputs are those of one-by-one calls: per-face seeds and keys do not depend on the batch."""
        results: list = [None] * len(batch)
        staged: list[tuple[int, _Staged]] = []
        for n, (image, fmt, faces) in enumerate(batch):
            try:
                staged.append((n, self._prepare(image, fmt, faces)))
            except Exception as exc:  # noqa: BLE001 - handed back as this image's result
                results[n] = exc
        if self.faces.preview:
            for n, st in staged:
                results[n] = self._preview(st)
            return results
        try:
            frames = anonymize_frames([st.rgb for _, st in staged], [st.faces for _, st in staged],
                                      [st.contexts for _, st in staged], self.method,
                                      mask=self.faces.mask_for(self.method))
        except Exception as exc:  # noqa: BLE001 - one image's faces broke the batch: redo each alone to find it
            if len(staged) == 1:
                results[staged[0][0]] = exc
                return results
            for n, _st in staged:
                results[n] = self.anonymize_images([batch[n]])[0]
            return results
        for (n, st), frame in zip(staged, frames):
            try:
                results[n] = self._finish(st, frame)
            except Exception as exc:  # noqa: BLE001
                results[n] = exc
        return results

    # -- the pixels `anonymize` writes, before encoding: `faceveil eval --method` measures exactly these

    @property
    def mask(self) -> MaskSpec | None:
        """The mask this anonymizer's method gets (``--shape auto`` gives pixel-recovering methods the box)."""
        return self.faces.mask_for(self.method)

    def find_faces(self, rgb: np.ndarray) -> list[Face]:
        """The faces :meth:`anonymize_images` anonymizes in ``rgb`` (detector, threshold, ``--boxes``)."""
        return list(self.faces.merge(self.detector.detect(rgb), Path("<array>")).faces)

    def contexts_for(self, pixels: np.ndarray, faces: Sequence[Face]) -> list:
        """Per-face contexts as :meth:`anonymize_images` derives them (from ``seed`` and the pixels, else at
        random); always keyed, as with a payload (the default), so secret-keyed methods get their secrets."""
        return face_contexts(faces, self._content_key(pixels))

    def anonymize_faces(self, rgb: np.ndarray, faces: Sequence[Face], contexts: Sequence,
                        method=None) -> FrameResult:
        """One frame through the same call as :meth:`anonymize_images`; ``method``: a stand-in wrapping
        ``self.method`` (eval's hidden-bits recorder, the obfuscation reference), default the method."""
        return anonymize_frames([rgb], [list(faces)], [list(contexts)], method or self.method, mask=self.mask)[0]

    def _prepare(self, image: LoadedImage, fmt: str, faces: Sequence[Face] | None) -> _Staged:
        """Detect, derive the content key and the per-face contexts (everything before the method)."""
        report = FileReport(input=image.path or Path("<array>"), method=self.method.name)
        rgb = image.rgb()
        t = time.perf_counter()
        merged = self.faces.merge(self.detector.detect(rgb) if faces is None else list(faces), report.input)
        faces = merged.faces
        report.timings["detect"] = time.perf_counter() - t
        if merged.imported:
            report.notes.append(f"{len(merged.imported)} face(s) from {self.faces.boxes.source} "
                                f"({merged.replaced} replacing a detection)")
        if self.faces.preview:  # drawn by _preview: no method, no key, no payload
            return _Staged(image, fmt, rgb, list(faces), [], None, None, report, merged)
        kept_header: list[dict] = []
        if merged.actions or self.faces.select is not None:  # boxes-file keep/ignore, --keep/--only
            t = time.perf_counter()
            faces, report.kept, kept_header = self.faces.choose(rgb, merged)
            report.timings["select"] = time.perf_counter() - t
            if report.kept:
                report.notes.append(f"{len(report.kept)} face(s) left untouched on purpose (see \"kept\" in --json)")
        if not faces and not report.kept:
            if self.require_faces:
                raise NoFacesError(f"{report.input}: no face found (threshold too high?)")
            # A missed face is a privacy leak: say so loudly rather than print a quiet "0 faces".
            report.notes.append("no face found: check the output; lower --threshold if a face was missed")
        content_key = self._content_key(image.pixels) if self.payload != "none" or self.seed is not None else None
        pixel = None
        if self.pixel_key is not None:
            check_pixel_format(fmt)
            pixel = pixel_image_keys(self.pixel_key)  # (image key, image salt, pixel keys)
            content_key = pixel[2].content_key
        return _Staged(image, fmt, rgb, list(faces), face_contexts(faces, content_key), content_key, pixel, report, merged,
                       kept_header)

    def _preview(self, st: _Staged) -> tuple[bytes, None, FileReport]:
        """--preview: the photo with its detections drawn, nothing anonymized, no payload."""
        st.report.faces = [f.to_dict() for f in st.faces]
        st.report.notes.append("preview: detections drawn, nothing anonymized, no payload")
        preview = merge_rgb(st.image.pixels, self.faces.preview_image(st.rgb, st.merged))
        return encode_image(preview, st.fmt, **self._jpeg_options(st.image), metadata=st.image.metadata), None, st.report

    def _jpeg_options(self, image: LoadedImage) -> dict:
        """``quality`` when given, else the JPEG source's own tables (io.images.JpegEncoding), else 95."""
        if self.quality is not None or image.jpeg is None:
            return {"quality": self.quality or 95}
        return {"jpeg": image.jpeg}

    def _finish(self, st: _Staged, frame: FrameResult) -> tuple[bytes, bytes | None, FileReport]:
        """Merge, encode and seal one anonymized image (everything after the method)."""
        image, fmt, report = st.image, st.fmt, st.report
        report.timings |= {k: v for k, v in frame.timings.items() if k != "total"}
        report.faces = [o.to_dict() for o in frame.outcomes]
        for o in frame.outcomes:
            if o.fallback_reason:
                report.notes.append(f"face at {[round(v) for v in o.face.box]}: {o.method} used instead ({o.fallback_reason})")
        if self.faces.draw_boxes:  # drawn before the changed regions are taken: recovery stays exact
            imported = st.merged.imported if len(st.faces) == len(st.merged.faces) else ()  # (indices into the merged list)
            frame.rgb = self.faces.overlay(frame.rgb, st.faces, imported)
        mask = self.faces.mask_for(self.method)
        extra = {"format": fmt} | ({"mask": mask.to_dict()} if mask is not None else {})
        if st.kept:  # which faces were left untouched and why (boxes and reasons; no reference name, no embedding)
            extra["kept"] = st.kept
        pixels = merge_rgb(image.pixels, frame.rgb) if st.faces else image.pixels
        if st.pixel is not None:
            image_key, image_salt, pixel_keys = st.pixel
            pixels = seal_into_pixels(pixels, self.method, frame.outcomes, image_key, image_salt, pixel_keys, mask)
            report.payload.append("pixels")
            # no container: everything recovery needs is in the pixels

        t = time.perf_counter()
        encoded = encode_image(pixels, fmt, **self._jpeg_options(image), metadata=image.metadata,
                               keep_metadata=self.keep_metadata, keep_icc=self.keep_icc)
        container = None
        if self.payload != "none":
            # Hash what a reader will decode. Lossless formats decode to exactly what we encoded
            # (tested in tests/io); JPEG does not, so decode it once.
            decoded = decode_image(encoded).pixels if fmt == "JPEG" else pixels
            secrets = {f"metadata.{k}": v for k in _METADATA_SECRETS if (v := getattr(image.metadata, k, None))}
            common = dict(method=self.method.name, method_params=self.method.params(), image_shape=tuple(image.pixels.shape),
                          faces=[o.to_dict() for o in frame.outcomes], pixel_sha256=pixel_digest(decoded),
                          recipients=self.recipients, content_key=st.content_key)
            regions = changed_regions(image.pixels, pixels, [o.rect for o in frame.outcomes])
            raw = sum(r.pixels.nbytes for r in regions)
            source = image.source if image.source is not None and len(image.source) <= min(raw, MAX_SOURCE_BYTES) else None
            # Lossless coding shrinks face pixels 1.5-3x, so a file a third of their raw size or less always
            # wins and the region coding (PNG, the slow part) is not even tried; in between, try both.
            container = None if source is not None and 3 * len(source) <= raw else seal(
                regions=regions, secrets=secrets, extra=extra, **common)
            if source is not None and (container is None or len(source) < len(container)):
                # The input file itself is the smaller exact representation (a JPEG's faces coded as
                # lossless pixel regions are often larger than the whole file): store it, and recovery
                # gives the original file back byte for byte (docs/format.md, "source file").
                container = seal(regions=[], source_file=image.source,
                                 extra=extra | {SOURCE_EXTRA: {"format": image.format, "bytes": len(image.source)}}, **common)
                report.notes.append(f"payload holds the original {image.format} file ({len(image.source):,} bytes): "
                                    "recovery returns it byte for byte")
            report.payload_bytes = len(container)
        report.timings["encrypt_encode"] = time.perf_counter() - t
        return encoded, container, report

    def process_file(self, src: Path, dst: Path, *, overwrite: bool = False, protect: Iterable[Path] = ()) -> FileReport:
        return _raise_or(self.process_files([(src, dst)], overwrite=overwrite, protect=protect)[0])

    def process_files(self, pairs: Sequence[tuple[Path, Path]], *, overwrite: bool = False,
                      protect: Iterable[Path] = ()) -> list[FileReport | Exception]:
        """:meth:`process_file` for several (src, dst) image pairs with one batched method call
        (:meth:`anonymize_images`). Each entry is that file's report, or the exception
        ``process_file`` would have raised for it: a bad file fails alone, the others are written,
        each atomically and byte for byte as one-by-one calls write them."""
        protect = list(protect)
        results: list = [None] * len(pairs)
        loaded: list[tuple[int, tuple[LoadedImage, str, None]]] = []
        for n, (src, dst) in enumerate(pairs):
            try:
                loaded.append((n, (load_image(src, max_pixels=self.max_pixels), format_for_path(dst), None)))
            except Exception as exc:  # noqa: BLE001 - handed back as this file's result
                results[n] = exc
        for (n, _), done in zip(loaded, self.anonymize_images([job for _, job in loaded])):
            try:
                results[n] = self._write(*pairs[n], _raise_or(done), overwrite=overwrite, protect=protect)
            except Exception as exc:  # noqa: BLE001
                results[n] = exc
        return results

    def _write(self, src: Path, dst: Path, done: tuple[bytes, bytes | None, FileReport], *, overwrite: bool,
               protect: Sequence[Path]) -> FileReport:
        """Place the payload (embedded and/or sidecar) and write the output atomically."""
        encoded, container, report = done
        fmt = format_for_path(dst)
        report.input, report.output = src, dst
        files: list[tuple[Path, bytes]] = []
        if container is not None:
            embed, side, note = photo_places(self.payload, fmt)
            if note:
                report.notes.append(note)
            if embed:
                encoded = embed_payload(encoded, container)
                report.payload.append("embedded")
            if side:
                files.append((sidecar_path(dst), container))
                report.payload.append(str(sidecar_path(dst)))
        # Sidecar and image are one unit: the image is renamed into place last, so an interrupted run
        # leaves at most a sidecar without its image, which the next run may replace.
        orphan = [sidecar_path(dst)] if not dst.exists() and not dst.is_symlink() else []
        atomic_write_files([*files, (dst, encoded)], overwrite=overwrite, protect=protect, replaceable=orphan)
        return report


@dataclass
class _Staged:
    """One image between detection and the method call (Anonymizer._prepare → _finish)."""

    image: LoadedImage
    fmt: str
    rgb: np.ndarray
    faces: list[Face]
    contexts: list
    content_key: ContentKey | None
    pixel: tuple | None  # pixel-only mode: (image key, image salt, pixel keys)
    report: FileReport
    merged: MergedFaces  # detections + imported boxes (--boxes), for the overlays
    kept: list[dict] = field(default_factory=list)  # faces left untouched on purpose, for the payload header


def _raise_or(result):
    """A batch entry: the result, or raise the exception it holds (the single-item API raises)."""
    if isinstance(result, BaseException):
        raise result
    return result


def recover_image(
    data: bytes, identities: Sequence, *, name: str = "<bytes>", path: Path | None = None,
    payload_file: Path | None = None, from_pixels: bool = False, method_options: dict | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS, runtime: RuntimeOptions | None = None,
) -> tuple[np.ndarray, ImageMetadata, ContainerInfo, FileReport]:
    """Recover the original pixels of an anonymized image (bytes). Returns (pixels, original metadata,
    container info, report). ``method_options`` (from-pixels only) add to / override the method
    parameters recorded at anonymization, e.g. ``weights`` when non-default weights were used.
    Raises WrongKeyError / TamperedPayloadError / TamperedPixelsError / PayloadCorruptError /
    PayloadMissingError. ``runtime``: ``--device`` for the method ``from_pixels`` re-creates."""
    return _recover_image(data, identities, name=name, path=path, payload_file=payload_file, from_pixels=from_pixels,
                          method_options=method_options, max_pixels=max_pixels, runtime=runtime)[:4]


def _recover_image(
    data: bytes, identities: Sequence, *, name: str, path: Path | None, payload_file: Path | None, from_pixels: bool,
    method_options: dict | None, max_pixels: int, runtime: RuntimeOptions | None,
) -> tuple[np.ndarray, ImageMetadata, ContainerInfo, FileReport, LoadedImage | None]:
    """:func:`recover_image` plus the original file when the payload stores it (source coding)."""
    image = decode_image(data, name=name, max_pixels=max_pixels)
    try:
        blob, where = find_photo_payload(path or Path(name), data, payload_file)
    except PayloadMissingError:
        if payload_file is not None:
            raise
        if from_pixels:  # pixel-only mode: the locator in the pixels stands in for the container
            return (*_recover_pixel_only(image, identities, name=name, path=path, method_options=method_options,
                                         runtime=runtime), None)
        from faceveil.crypto.pixel_locator import has_locator

        if has_locator(image.pixels):
            raise PayloadMissingError(f"{name}: no recovery payload, but the pixels carry a pixel-only locator: "
                                      "recover with --from-pixels") from None
        raise
    opened = open_container(blob, identities)  # checksum first, then key, then authenticated body
    info = opened.info
    verify_pixels(info, image.pixels)
    if tuple(image.pixels.shape) != tuple(info.image_shape):
        raise InputError(f"{name}: image shape {image.pixels.shape} differs from the payload's {tuple(info.image_shape)}")
    report = FileReport(input=path or Path(name), method=info.method, faces=info.faces, payload=[where])
    if from_pixels:
        if not hides_in_pixels(info.method):  # before creating it: its recorded params need not re-create it
            raise InputError(f"method {info.method!r} hides nothing in the pixels; recover without --from-pixels")
        device = runtime.recovery_method_options(info.method) if runtime is not None else {}
        method = create_method(info.method, **{**info.method_params, **device, **(method_options or {})})
        if not isinstance(method, PixelRecoverableMethod):
            raise InputError(f"method {info.method!r} hides nothing in the pixels; recover without --from-pixels")
        # Contexts are re-derived by face index, so keep every face's index; faces that got the fallback
        # (too small for the model) hide nothing and stay as they are.
        contexts = face_contexts([face_from_dict(f) for f in info.faces], opened.content_key)
        mask = MaskSpec.from_dict(info.extra.get("mask"))  # the mask used at anonymization (None: whole box)
        rgb = recover_outcomes_from_pixels(image.rgb(), info.faces, method, contexts, mask=mask)
        pixels = merge_rgb(image.pixels, rgb)
        report.notes.append("recovered from the anonymized pixels (approximate), not from the exact payload")
    elif opened.source_file is not None:
        source = decode_image(opened.source_file, name=f"{name} (original file in the payload)",
                              max_pixels=max_pixels)
        if tuple(source.pixels.shape) != tuple(info.image_shape):
            raise InputError(f"{name}: the payload's original file is {source.pixels.shape}, not {tuple(info.image_shape)}")
        return source.pixels, source.metadata, info, report, source
    else:
        pixels = restore_regions(image.pixels, opened.regions)
        if info.extra.get("format") == "JPEG" or image.format == "JPEG":
            report.notes.append("anonymized file is JPEG: the face regions are the exact originals, the rest is as decoded")
    meta = ImageMetadata(**{k: opened.secrets.get(f"metadata.{k}") for k in _METADATA_SECRETS})
    return pixels, meta, info, report, None


def _recover_pixel_only(image: LoadedImage, identities: Sequence, *, name: str, path: Path | None,
                        method_options: dict | None, runtime: RuntimeOptions | None = None,
                        ) -> tuple[np.ndarray, ImageMetadata, ContainerInfo, FileReport]:
    rgb, record = recover_from_pixels(image.pixels, image.rgb(), identities, method_options, runtime=runtime)
    info = ContainerInfo(version=0, method=record["method"], method_params=record["params"],
                         image_shape=tuple(record["shape"]), faces=record["faces"], pixel_sha256=b"",
                         recipients=[{"type": "passphrase", "kdf": "argon2id"}], region_count=0, created="",
                         extra={"pixel_only": True})
    report = FileReport(input=path or Path(name), method=record["method"], faces=record["faces"], payload=["pixels"])
    report.notes.append("recovered from the pixels alone (pixel-only locator), approximate")
    return merge_rgb(image.pixels, rgb), ImageMetadata(), info, report


def recover_photo_file(src: Path, dst: Path, identities: Sequence, *, payload_file: Path | None = None,
                       from_pixels: bool = False, method_options: dict | None = None, keep_metadata: bool = True,
                       overwrite: bool = False, protect: Iterable[Path] = (),
                       max_pixels: int = DEFAULT_MAX_PIXELS, runtime: RuntimeOptions | None = None) -> FileReport:
    """``faceveil recover`` on one image file (``runtime``: see :func:`recover_image`)."""
    if not src.exists():
        raise InputError(f"{src}: no such file")
    data = src.read_bytes()
    pixels, meta, _info, report, source = _recover_image(
        data, identities, name=str(src), path=src, payload_file=payload_file, from_pixels=from_pixels,
        method_options=method_options, max_pixels=max_pixels, runtime=runtime,
    )
    exact_file = source is not None and keep_metadata and format_for_path(dst) == source.format
    if exact_file:  # the payload holds the original file and the output asks for its format: write it as it was
        encoded = source.source
        report.notes.append("recovered the original file byte for byte (the payload stores it)")
    else:
        encoded = encode_image(pixels, format_for_path(dst), metadata=meta, keep_metadata=keep_metadata,
                               keep_icc=keep_metadata, restore_original=keep_metadata, quality=100)
        if source is not None:
            report.notes.append(f"the payload holds the original {source.format} file: exact pixels, re-encoded as "
                                f"{format_for_path(dst)}; recover to .{source.format.lower()} for the original file byte for byte")
    atomic_write_bytes(dst, encoded, overwrite=overwrite, protect=protect, mode=PRIVATE_MODE)  # the original faces
    if format_for_path(dst) == "JPEG" and not exact_file:  # say what is exact: the restored regions are re-encoded
        report.notes.append("JPEG output re-encodes the restored face regions (not bit-exact); use PNG output (-f png) for the exact pixels")
    report.input, report.output = src, dst
    return report


def inspect_photo_file(p: Path, payload_file: Path | None = None, *, identities: Sequence | None = None,
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """What an image carries (see ``faceveil.api.inspect``). Without ``identities`` nothing is
    authenticated (``verified`` False: anyone can write a header); with them the payload is opened and
    the pixels checked, raising what ``recover`` would raise."""
    data = p.read_bytes()
    image = decode_image(data, name=str(p), max_pixels=max_pixels)
    result: dict = {"file": str(p), "format": image.format, "size": [image.pixels.shape[1], image.pixels.shape[0]],
                    "channels": image.pixels.shape[2]}
    try:
        blob, where = find_photo_payload(p, data, payload_file)
    except PayloadMissingError:
        if payload_file is not None:  # the file the user named is missing or unreadable: an error, not "none"
            raise
        from faceveil.crypto.pixel_locator import find_header

        found = find_header(image.pixels)  # pixel-only mode: the clear header is all that shows without a key
        return result | {"payload": None, "pixel_locator": None if found is None else found[0]}
    info = read_info(blob)
    if identities is not None:
        info = open_container(blob, identities).info  # WrongKey / Tampered* like recover
        verify_pixels(info, image.pixels)
    try:
        verify_pixels(info, image.pixels)
        pixels_ok = True
    except FaceveilError:
        pixels_ok = False
    return result | {
        "verified": identities is not None,
        "payload": where,
        "payload_bytes": len(blob),
        "format_version": info.version,
        "method": info.method,
        "method_params": info.method_params,
        "faces": info.faces,
        "face_count": len(info.faces),
        "regions": info.region_count,
        "original_file": info.extra.get(SOURCE_EXTRA),  # recovery returns this file byte for byte
        "recipients": info.recipients,
        "created": info.created,
        "pixels_match_payload": pixels_ok,
    } | ({"kept": info.extra["kept"]} if info.extra.get("kept") else {})
