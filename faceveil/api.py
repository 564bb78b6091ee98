"""Python API, mirroring the CLI one to one (the CLI is a thin layer over these functions).

    import faceveil
    faceveil.anonymize("photo.jpg", "out.png", passphrase="correct horse battery staple")
    faceveil.recover("out.png", "back.png", passphrase="correct horse battery staple")
    faceveil.inspect("out.png")            # no key needed
    faceveil.keygen("me.key")              # writes me.key (private) and me.key.pub

Key material: anonymizing needs *recipients* — a passphrase and/or X25519 public keys
(``recipients=["me.key.pub"]``) — unless ``payload="none"``. Recovering needs an *identity*: the
passphrase or the private key file. The costly Argon2id derivation happens once per ``Anonymizer``,
i.e. once per batch, never once per image.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from faceveil.crypto.container import ContainerInfo, open_container, read_info, seal, verify_pixels
from faceveil.crypto.envelope import ContentKey
from faceveil.crypto.keys import (
    Argon2Params,
    PassphraseKey,
    X25519Identity,
    X25519Recipient,
    load_key_file,
)
from faceveil.errors import FaceveilError, InputError, KeyMaterialError, NoFacesError, PayloadMissingError
from faceveil.faces.detect import create_detector
from faceveil.io.atomic import atomic_write_bytes
from faceveil.io.carriers import embed_payload, extract_payload, sidecar_path, supports_embedding
from faceveil.io.images import ImageMetadata, LoadedImage, decode_image, encode_image, format_for_path, load_image, merge_rgb
from faceveil.methods.base import PixelRecoverableMethod, create_method
from faceveil.pipeline import (
    anonymize_frame,
    changed_regions,
    face_contexts,
    pixel_digest,
    recover_frame_from_pixels,
    restore_regions,
)
from faceveil.faces.types import Face

PayloadMode = Literal["embedded", "sidecar", "both", "none"]
PAYLOAD_MODES: tuple[str, ...] = ("embedded", "sidecar", "both", "none")
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"})
DEFAULT_METHOD = "mosaic"
_METADATA_SECRETS = ("exif", "icc_profile", "xmp")


@dataclass
class FileReport:
    """Outcome for one input file; ``to_dict`` is what ``--json`` prints."""

    input: Path
    output: Path | None = None
    ok: bool = True
    error: str | None = None
    exit_code: int = 0
    faces: list[dict] = field(default_factory=list)
    method: str | None = None
    payload: list[str] = field(default_factory=list)  # where the recovery payload went / came from
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def face_count(self) -> int:
        return len(self.faces)

    def to_dict(self) -> dict:
        d = {
            "input": str(self.input),
            "output": str(self.output) if self.output else None,
            "ok": self.ok,
            "faces": self.faces,
            "face_count": self.face_count,
            "method": self.method,
            "payload": self.payload,
            "notes": self.notes,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if not self.ok:
            d |= {"error": self.error, "exit_code": self.exit_code}
        return d


@dataclass(frozen=True)
class VideoSettings:
    """Video-only choices (photos ignore them): output codec, quality, time span, audio, progress bar."""

    codec: str | None = None  # FFmpeg encoder; None = the container's default
    crf: int | None = None  # quality for x264/x265/VP9 (lower = better); None = 18
    lossless: bool = False  # exact recovery of whole frames (FFV1 / x264rgb qp0 / VP9 lossless)
    start: float | None = None  # seconds
    end: float | None = None
    keep_audio: bool = True
    progress: bool = False  # rich progress bar with fps and ETA on stderr

    def encode_options(self, *, default_lossless: bool | None = None):
        from faceveil.io.video import EncodeOptions

        kw = {"codec": self.codec, "keep_audio": self.keep_audio,
              "lossless": self.lossless if default_lossless is None else (self.lossless or default_lossless)}
        if self.crf is not None:
            kw["crf"] = self.crf
        return EncodeOptions(**kw)

    def options(self, payload: str):
        from faceveil.io.video import TimeSpan
        from faceveil.video import VideoOptions

        return VideoOptions(encode=self.encode_options(), span=TimeSpan(self.start, self.end), payload=payload)


# ---------------------------------------------------------------------------------------------
# key material


def make_recipients(
    passphrase: str | bytes | None = None,
    recipients: Iterable[str | os.PathLike | X25519Recipient] = (),
    argon2_params: Argon2Params | None = None,
) -> list:
    """Recipients for sealing: a PassphraseKey (Argon2id runs here, once) and/or X25519 public keys."""
    out: list = []
    for r in recipients:
        if isinstance(r, X25519Recipient):
            out.append(r)
            continue
        key = load_key_file(Path(r))
        out.append(key.recipient if isinstance(key, X25519Identity) else key)
    if passphrase is not None:
        if len(passphrase) == 0:
            raise KeyMaterialError("the passphrase is empty")
        out.append(PassphraseKey.create(passphrase, argon2_params) if argon2_params else PassphraseKey.create(passphrase))
    return out


def make_identities(passphrase: str | bytes | None = None, private_keys: Iterable = (), key_passphrase=None) -> list:
    """Identities for opening: the passphrase and/or X25519 private key files (or identity objects,
    e.g. a cluster worker's ``PassphraseKey.from_master``)."""
    out: list = []
    for k in private_keys:
        if isinstance(k, (X25519Identity, PassphraseKey)):
            out.append(k)
            continue
        key = load_key_file(Path(k), passphrase=key_passphrase)
        if not isinstance(key, X25519Identity):
            raise KeyMaterialError(f"{k} is a public key; recovery needs the private key")
        out.append(key)
    if passphrase is not None:
        out.append(PassphraseKey.for_opening(passphrase))
    if not out:
        raise KeyMaterialError("no key given: pass a passphrase or a private key file")
    return out


# ---------------------------------------------------------------------------------------------
# paths


def expand_inputs(inputs: Sequence[str | os.PathLike], extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS) -> list[tuple[Path, Path]]:
    """Files to process as (file, root) pairs; folders are searched recursively for known extensions.
    ``root`` is the folder the file was found under (to mirror the tree in an output folder)."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in extensions:
                    found.append((f, p))
        elif p.exists():
            found.append((p, p.parent))
        else:
            found.append((p, p.parent))  # reported as a per-file error, not a batch abort
    return found


def _is_batch(items: list, inputs: list) -> bool:
    """Several files, or any folder: then ``-o`` names a folder, not a file."""
    return len(items) > 1 or any(Path(i).is_dir() for i in inputs)


def plan_output(src: Path, root: Path, output: Path | None, *, batch: bool, suffix: str, fmt_ext: str | None) -> Path:
    """Where one input's output goes: the given file, a mirrored path in an output folder, or
    ``<stem><suffix><ext>`` beside the input."""
    ext = fmt_ext or (".mkv" if src.suffix.lower() == ".avi" else src.suffix)  # AVI cannot keep timestamps
    if output is None:
        return src.with_name(f"{src.stem}{suffix}{ext}")
    if batch or output.is_dir() or str(output).endswith(os.sep):
        rel = src.relative_to(root) if src.is_relative_to(root) else Path(src.name)
        return (output / rel).with_suffix(ext)
    return output if fmt_ext is None else output.with_suffix(ext)


# ---------------------------------------------------------------------------------------------
# anonymize


class Anonymizer:
    """Anonymizes images one after another with one detector, one method and one set of recipients."""

    def __init__(
        self,
        *,
        method: str = DEFAULT_METHOD,
        method_options: dict | None = None,
        detector: str = "centerface",
        threshold: float | None = None,
        recipients: Sequence = (),
        payload: PayloadMode = "embedded",
        keep_metadata: bool = False,
        keep_icc: bool = False,
        quality: int = 95,
        require_faces: bool = False,
        seed: int | None = None,
    ):
        """``seed``: derive each image's content key from (seed, its pixels) instead of at random, so
        the same input gives the same output pixels on any machine (tests, benchmarks, comparing a
        cluster run with a local one). Not for real use: whoever knows the seed and an original can
        derive that image's key."""
        if payload not in PAYLOAD_MODES:
            raise InputError(f"--payload must be one of {', '.join(PAYLOAD_MODES)}, got {payload!r}")
        if payload != "none" and not recipients:
            raise KeyMaterialError(
                "no key for the recovery payload: give a passphrase (prompt, --password-file or "
                "FACEVEIL_PASSPHRASE) or --recipient PUBLIC_KEY, or use --payload none (irreversible)"
            )
        if not 1 <= quality <= 100:
            raise InputError(f"--quality must be in 1..100, got {quality}")
        self.method = create_method(method, **(method_options or {}))
        self.method.check_can_anonymize()
        det_config = {} if threshold is None else {"threshold": threshold}
        self.detector = create_detector(detector, **det_config)
        self.recipients = list(recipients)
        self.payload = payload
        self.keep_metadata = keep_metadata
        self.keep_icc = keep_icc
        self.quality = quality
        self.require_faces = require_faces
        self.seed = seed

    def _content_key(self, pixels: np.ndarray) -> ContentKey:
        if self.seed is None:
            return ContentKey.generate()
        digest = hashlib.sha256(repr((pixels.shape, str(pixels.dtype))).encode() + pixels.tobytes()).digest()
        return ContentKey(hashlib.sha256(f"faceveil/seed/{self.seed}/".encode() + digest).digest())

    def anonymize_image(self, image: LoadedImage, fmt: str, faces: Sequence[Face] | None = None) -> tuple[bytes, bytes | None, FileReport]:
        """Anonymize a loaded image; returns (encoded output bytes without payload, container or None, report)."""
        report = FileReport(input=image.path or Path("<array>"), method=self.method.name)
        rgb = image.rgb()
        t = time.perf_counter()
        if faces is None:
            faces = self.detector.detect(rgb)
        report.timings["detect"] = time.perf_counter() - t
        if not faces:
            if self.require_faces:
                raise NoFacesError(f"{report.input}: no face found (threshold too high?)")
            # A missed face is a privacy leak: say so loudly rather than print a quiet "0 faces".
            report.notes.append("no face found: check the output; lower --threshold if a face was missed")
        content_key = self._content_key(image.pixels) if self.payload != "none" or self.seed is not None else None
        contexts = face_contexts(faces, content_key)
        frame = anonymize_frame(rgb, faces, self.method, contexts)
        report.timings |= {k: v for k, v in frame.timings.items() if k != "total"}
        report.faces = [o.to_dict() for o in frame.outcomes]
        for o in frame.outcomes:
            if o.fallback_reason:
                report.notes.append(f"face at {[round(v) for v in o.face.box]}: {o.method} used instead ({o.fallback_reason})")
        pixels = merge_rgb(image.pixels, frame.rgb) if faces else image.pixels

        t = time.perf_counter()
        encoded = encode_image(pixels, fmt, quality=self.quality, metadata=image.metadata,
                               keep_metadata=self.keep_metadata, keep_icc=self.keep_icc)
        container = None
        if self.payload != "none":
            # Hash what a reader will decode. Lossless formats decode to exactly what we encoded
            # (tested in tests/io); JPEG does not, so decode it once.
            decoded = decode_image(encoded).pixels if fmt == "JPEG" else pixels
            secrets = {f"metadata.{k}": v for k in _METADATA_SECRETS if (v := getattr(image.metadata, k, None))}
            container = seal(
                regions=changed_regions(image.pixels, pixels, [o.rect for o in frame.outcomes]),
                method=self.method.name,
                method_params=self.method.params(),
                image_shape=tuple(image.pixels.shape),
                faces=[o.to_dict() for o in frame.outcomes],
                pixel_sha256=pixel_digest(decoded),
                recipients=self.recipients,
                content_key=content_key,
                secrets=secrets,
                extra={"format": fmt},
            )
        report.timings["encrypt_encode"] = time.perf_counter() - t
        return encoded, container, report

    def process_file(self, src: Path, dst: Path, *, overwrite: bool = False, protect: Iterable[Path] = ()) -> FileReport:
        image = load_image(src)
        fmt = format_for_path(dst)
        encoded, container, report = self.anonymize_image(image, fmt)
        report.input, report.output = src, dst
        if container is not None:
            where = self.payload
            if where in ("embedded", "both") and not supports_embedding(fmt):
                if where == "embedded":
                    report.notes.append(f"{fmt} cannot carry an embedded payload: wrote a sidecar instead")
                where = "sidecar"
            if where in ("embedded", "both"):
                encoded = embed_payload(encoded, container)
                report.payload.append("embedded")
            if where in ("sidecar", "both"):
                side = sidecar_path(dst)
                atomic_write_bytes(side, container, overwrite=overwrite, protect=protect)
                report.payload.append(str(side))
        atomic_write_bytes(dst, encoded, overwrite=overwrite, protect=protect)
        return report


def anonymize(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    method: str = DEFAULT_METHOD,
    method_options: dict | None = None,
    passphrase: str | bytes | None = None,
    recipients: Iterable = (),
    payload: PayloadMode = "embedded",
    detector: str = "centerface",
    threshold: float | None = None,
    output_format: str | None = None,
    keep_metadata: bool = False,
    keep_icc: bool = False,
    quality: int = 95,
    overwrite: bool = False,
    require_faces: bool = False,
    argon2_params: Argon2Params | None = None,
    video: VideoSettings = VideoSettings(),
    on_file=None,
    seed: int | None = None,
) -> list[FileReport]:
    """Anonymize every face in one or more images (files or folders, recursive).

    ``output``: a file (single input) or a folder (several inputs); default ``<stem>.anon<ext>``
    beside each input. ``output_format``: e.g. "png" (lossless, exact recovery) or "jpg".
    A failing file yields a report with ``ok=False`` and does not stop the batch.
    ``on_file(report)`` is called after each file (progress bars). ``seed``: reproducible content
    keys (see ``Anonymizer``).
    """
    single = isinstance(inputs, (str, os.PathLike))
    items = expand_inputs([inputs] if single else list(inputs))
    if not items:
        raise InputError("no input images found")
    batch = _is_batch(items, [inputs] if single else list(inputs))
    fmt_ext = None if output_format is None else "." + output_format.lower().lstrip(".")
    if fmt_ext is not None:
        format_for_path(Path("x" + fmt_ext))  # validates the format name early
    anonymizer = Anonymizer(
        method=method, method_options=method_options, detector=detector, threshold=threshold,
        recipients=make_recipients(passphrase, recipients, argon2_params) if payload != "none" else [],
        payload=payload, keep_metadata=keep_metadata, keep_icc=keep_icc, quality=quality,
        require_faces=require_faces, seed=seed,
    )
    inputs_resolved = {src.resolve() for src, _ in items if src.exists()}
    reports = []
    for src, root in items:
        dst = plan_output(src, root, Path(output) if output else None, batch=batch, suffix=".anon", fmt_ext=fmt_ext)
        reports.append(_run_one(lambda: _anonymize_one(anonymizer, src, dst, overwrite, inputs_resolved, batch, video),
                                src, dst))
        if on_file:
            on_file(reports[-1])
    return reports


def _anonymize_one(anonymizer: Anonymizer, src: Path, dst: Path, overwrite: bool, protect, batch: bool,
                   settings: VideoSettings) -> FileReport:
    if batch:
        _make_output_dir(dst)
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        from faceveil import video

        with video.console_progress(src.name, enabled=settings.progress) as progress:
            return video.anonymize_video_file(anonymizer, src, dst, overwrite=overwrite, protect=protect,
                                              options=settings.options(anonymizer.payload), progress=progress)
    return anonymizer.process_file(src, dst, overwrite=overwrite, protect=protect)


def _make_output_dir(dst: Path) -> None:
    """Batches mirror the input tree into the output folder, creating it as needed."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {dst.parent}: {exc.strerror}") from None


def _run_one(fn, src: Path, dst: Path | None) -> FileReport:
    try:
        return fn()
    except FaceveilError as exc:
        return FileReport(input=src, output=None, ok=False, error=str(exc), exit_code=exc.exit_code)
    except MemoryError:
        return FileReport(input=src, ok=False, error=f"{src}: out of memory", exit_code=1)


# ---------------------------------------------------------------------------------------------
# recover


def find_payload(path: Path, data: bytes, payload_file: Path | None = None) -> tuple[bytes, str]:
    """The recovery payload for an image: an explicit file, else embedded, else the sidecar."""
    if payload_file is not None:
        if not payload_file.exists():
            raise PayloadMissingError(f"payload file {payload_file} does not exist")
        return payload_file.read_bytes(), str(payload_file)
    embedded = extract_payload(data)
    if embedded is not None:
        return embedded, "embedded"
    side = sidecar_path(path)
    if side.exists():
        return side.read_bytes(), str(side)
    raise PayloadMissingError(f"{path}: no recovery payload (none embedded, and sidecar {side} is missing)")


def recover_image(
    data: bytes, identities: Sequence, *, name: str = "<bytes>", path: Path | None = None,
    payload_file: Path | None = None, from_pixels: bool = False, method_options: dict | None = None,
) -> tuple[np.ndarray, ImageMetadata, ContainerInfo, FileReport]:
    """Recover the original pixels of an anonymized image (bytes). Returns (pixels, original metadata,
    container info, report). ``method_options`` (from-pixels only) add to / override the method
    parameters recorded at anonymization, e.g. ``weights`` when non-default weights were used.
    Raises WrongKeyError / TamperedPayloadError / TamperedPixelsError / PayloadCorruptError /
    PayloadMissingError."""
    image = decode_image(data, name=name)
    blob, where = find_payload(path or Path(name), data, payload_file)
    opened = open_container(blob, identities)  # checksum first, then key, then authenticated body
    info = opened.info
    verify_pixels(info, image.pixels)
    if tuple(image.pixels.shape) != tuple(info.image_shape):
        raise InputError(f"{name}: image shape {image.pixels.shape} differs from the payload's {tuple(info.image_shape)}")
    report = FileReport(input=path or Path(name), method=info.method, faces=info.faces, payload=[where])
    if from_pixels:
        method = create_method(info.method, **{**info.method_params, **(method_options or {})})
        if not isinstance(method, PixelRecoverableMethod):
            raise InputError(f"method {info.method!r} hides nothing in the pixels; recover without --from-pixels")
        # Contexts are re-derived by face index, so keep every face's index; faces that got the fallback
        # (too small for the model) hide nothing and stay as they are.
        contexts = face_contexts([_face_from_dict(f) for f in info.faces], opened.content_key)
        mine = [i for i, f in enumerate(info.faces) if f.get("method") == info.method]
        rgb = recover_frame_from_pixels(image.rgb(), [contexts[i].face for i in mine], method,
                                        [contexts[i] for i in mine], rects=[tuple(info.faces[i]["rect"]) for i in mine])
        pixels = merge_rgb(image.pixels, rgb)
        report.notes.append("recovered from the anonymized pixels (approximate), not from the exact payload")
    else:
        pixels = restore_regions(image.pixels, opened.regions)
        if info.extra.get("format") == "JPEG" or image.format == "JPEG":
            report.notes.append("JPEG output: face regions restored exactly, the rest is as decoded")
    meta = ImageMetadata(**{k: opened.secrets.get(f"metadata.{k}") for k in _METADATA_SECRETS})
    return pixels, meta, info, report


def recover(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    passphrase: str | bytes | None = None,
    private_keys: Iterable = (),
    key_passphrase: str | bytes | None = None,
    payload_file: str | os.PathLike | None = None,
    from_pixels: bool = False,
    method_options: dict | None = None,
    output_format: str | None = None,
    keep_metadata: bool = True,
    overwrite: bool = False,
    video: VideoSettings | None = None,
    on_file=None,
) -> list[FileReport]:
    """Recover originals (bit-exact for lossless outputs). The original metadata (stored encrypted in
    the payload) is restored unless ``keep_metadata=False``. ``method_options`` are for
    ``from_pixels`` (e.g. ``{"weights": path}``; see ``recover_image``)."""
    if method_options and not from_pixels:
        raise InputError("method options (-O) only apply to --from-pixels recovery; the exact payload needs none")
    identities = make_identities(passphrase, private_keys, key_passphrase)
    single = isinstance(inputs, (str, os.PathLike))
    items = expand_inputs([inputs] if single else list(inputs))
    batch = _is_batch(items, [inputs] if single else list(inputs))
    fmt_ext = None if output_format is None else "." + output_format.lower().lstrip(".")
    protect = {src.resolve() for src, _ in items if src.exists()}
    reports = []
    for src, root in items:
        dst = plan_output(src, root, Path(output) if output else None, batch=batch, suffix=".recovered", fmt_ext=fmt_ext)

        def one(src=src, dst=dst) -> FileReport:
            if src.suffix.lower() in VIDEO_EXTENSIONS:
                from faceveil import video as video_pipeline

                if from_pixels:
                    raise InputError(f"{src}: --from-pixels is for photos; videos recover from their exact payload")
                if batch:
                    _make_output_dir(dst)
                settings = video or VideoSettings()
                # None: keep the payload's choice (lossless stays lossless) unless the caller set a codec
                encode = settings.encode_options() if (settings.codec or settings.lossless or settings.crf) else None
                with video_pipeline.console_progress(src.name, enabled=settings.progress) as progress:
                    return video_pipeline.recover_video_file(
                        src, dst, identities, overwrite=overwrite, protect=protect, encode=encode, progress=progress,
                        payload_file=Path(payload_file) if payload_file else None)
            if not src.exists():
                raise InputError(f"{src}: no such file")
            data = src.read_bytes()
            if batch:
                _make_output_dir(dst)
            pixels, meta, _info, report = recover_image(
                data, identities, name=str(src), path=src,
                payload_file=Path(payload_file) if payload_file else None, from_pixels=from_pixels,
                method_options=method_options,
            )
            encoded = encode_image(pixels, format_for_path(dst), metadata=meta, keep_metadata=keep_metadata,
                                   keep_icc=keep_metadata, quality=100)
            atomic_write_bytes(dst, encoded, overwrite=overwrite, protect=protect)
            report.input, report.output = src, dst
            return report

        reports.append(_run_one(one, src, dst))
        if on_file:
            on_file(reports[-1])
    return reports


# ---------------------------------------------------------------------------------------------
# inspect, keygen


def inspect(path: str | os.PathLike, payload_file: str | os.PathLike | None = None) -> dict:
    """What a file carries, readable without a key: faces, method, payload location, recipients,
    and whether the pixels still match the payload's hash."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.suffix.lower() in VIDEO_EXTENSIONS:
        from faceveil import video

        return video.inspect_video_file(p, payload_file=Path(payload_file) if payload_file else None)
    data = p.read_bytes()
    image = decode_image(data, name=str(p))
    result: dict = {"file": str(p), "format": image.format, "size": [image.pixels.shape[1], image.pixels.shape[0]],
                    "channels": image.pixels.shape[2]}
    try:
        blob, where = find_payload(p, data, Path(payload_file) if payload_file else None)
    except PayloadMissingError:
        return result | {"payload": None}
    info = read_info(blob)
    try:
        verify_pixels(info, image.pixels)
        pixels_ok = True
    except FaceveilError:
        pixels_ok = False
    return result | {
        "payload": where,
        "payload_bytes": len(blob),
        "format_version": info.version,
        "method": info.method,
        "method_params": info.method_params,
        "faces": info.faces,
        "face_count": len(info.faces),
        "regions": info.region_count,
        "recipients": info.recipients,
        "created": info.created,
        "pixels_match_payload": pixels_ok,
    }


def keygen(private_path: str | os.PathLike, public_path: str | os.PathLike | None = None, *,
           passphrase: str | bytes | None = None, overwrite: bool = False) -> dict:
    """Create an X25519 key pair: the private key (PEM, 0600, optionally passphrase-encrypted) and the
    public key (``<private>.pub`` by default) to hand to machines that only anonymize."""
    priv = Path(private_path)
    pub = Path(public_path) if public_path else priv.with_name(priv.name + ".pub")
    identity = X25519Identity.generate()
    identity.save(priv, pub, passphrase=passphrase, overwrite=overwrite)
    return {"private_key": str(priv), "public_key": str(pub), "key_id": identity.recipient.key_id}


def _face_from_dict(d: dict) -> Face:
    lm = np.asarray(d["landmarks"], dtype=np.float32) if d.get("landmarks") is not None else None
    return Face(box=tuple(d["box"]), landmarks=lm, score=d.get("score", 1.0), track_id=d.get("track_id"))
