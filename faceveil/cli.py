"""`faceveil` command line. A thin layer over faceveil.api: parse flags, get key material, show
progress, print one line per file (or a JSON summary), exit with a code that says what went wrong.

Exit codes (also in docs/cli.md): 0 ok · 1 some files failed for different reasons / internal error ·
2 usage · 3 bad input (also an OS error on a path you gave) · 4 no payload · 5 corrupt payload · 6 wrong key · 7 tampered payload ·
8 tampered pixels · 9 output exists · 10 model missing · 11 key material · 12 no faces (--require-faces) ·
13 over a safety limit (pixels, KDF cost) · 14 source-coded video payload decodes differently here · 130 Ctrl-C · 143 SIGTERM (both print the finished files).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from faceveil.errors import FaceveilError, InputError, KeyMaterialError, UsageError, optional_dependency_error
from faceveil.plugins import DEFAULT_DETECTOR, DEFAULT_METHOD, DETECTORS, METHODS, TRAIN_COMMANDS
from faceveil.scale import cli as scale_cli

PASSPHRASE_ENV = "FACEVEIL_PASSPHRASE"

app = typer.Typer(
    name="faceveil",
    help="Reversible face anonymization: anonymize every face in photos and videos; key holders recover the originals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Without a command, `faceveil IMAGE... [OPTIONS]` anonymizes as deface does (outputs NAME_anonymized.EXT; "
           "deface's option spellings work too, each with a note). Reference: docs/cli.md.",
)


def _err(msg: str) -> None:
    from faceveil.progress import one_line  # a newline in a file name must not split the message

    print(f"faceveil: {one_line(msg)}", file=sys.stderr)


def read_passphrase(password_file: Optional[Path], *, confirm: bool, required: bool) -> Optional[str]:
    """Passphrase from --password-file, else $FACEVEIL_PASSPHRASE, else an interactive prompt (only when
    stdin is a terminal). Never from a command-line argument: those leak into shell history and `ps`."""
    from faceveil.crypto.passphrase import passphrase_from_environment, read_password_file  # lazy: cv2 via crypto

    if password_file is not None:  # file and env var share one rule (crypto/passphrase.py)
        return read_password_file(password_file)
    if (value := passphrase_from_environment(PASSPHRASE_ENV)) is not None:
        return value
    if not required:
        return None
    if not sys.stdin.isatty():
        raise KeyMaterialError(f"no passphrase: use --password-file FILE or set {PASSPHRASE_ENV} (stdin is not a terminal)")
    value = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != value:
        raise KeyMaterialError("the two passphrases differ")
    if not value:
        raise KeyMaterialError("the passphrase is empty")
    return value


COMPAT_PASSWORD_ENV = "FACEVEIL_COMPAT_PASSWORD"
COMPAT_WARNING = ("warning: PRO-Face S compat mode uses the paper's weak key derivation (PBKDF2, fixed salt, "
                  "10 iterations: a dictionary password falls in seconds); use it only to interoperate with the official code")


def read_compat_password(password_file: Optional[Path], *, required: bool) -> Optional[str]:
    """PRO-Face S compat password: --compat-password-file, else $FACEVEIL_COMPAT_PASSWORD, else a prompt
    (the same sources and rule as the passphrase; never argv)."""
    from faceveil.crypto.passphrase import passphrase_from_environment, read_password_file

    if password_file is not None:
        return read_password_file(password_file)
    if (value := passphrase_from_environment(COMPAT_PASSWORD_ENV)) is not None:
        return value
    if not required:
        return None
    if not sys.stdin.isatty():
        raise KeyMaterialError(f"PRO-Face S compat mode needs its password: use --compat-password-file FILE or set "
                               f"{COMPAT_PASSWORD_ENV} (stdin is not a terminal)")
    value = getpass.getpass("PRO-Face S compat password: ")
    if not value:
        raise KeyMaterialError("the compat password is empty")
    return value


def refuse_secret_options(options: dict) -> None:
    """Secrets never go on the command line (shell history, `ps`): -O password=... is refused."""
    if "password" in options:
        raise KeyMaterialError(f"-O password=... is refused: secrets never go on the command line. Give the PRO-Face S "
                               f"compat password with --compat-password-file FILE, ${COMPAT_PASSWORD_ENV} or the prompt")


def _wants_pixel_only(method: str, options: dict) -> bool:
    """--payload none with a method that hides faces in their own pixels under key material: a
    passphrase then makes the output recoverable from its pixels alone (pipeline/pixel_only.py)."""
    from faceveil.methods.base import create_method
    from faceveil.pipeline.pixel_only import supports_pixel_only

    try:
        return supports_pixel_only(create_method(method, **options))
    except FaceveilError:
        return False  # the real run reports the problem


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so every ``finally`` (video scratch folders) runs."""


_terminated = False  # set by the SIGTERM handler: exit 143 instead of Ctrl-C's 130


def _on_sigterm(signum, frame) -> None:
    global _terminated
    _terminated = True
    raise _Terminated()


def _run_batch(inputs: list[Path], quiet: bool, run, describe=None):
    """``run(found, on_file, frames)`` with the files found once (``found``: pipeline.paths.InputSet, for
    the api call) and the progress reporter (faceveil.progress: X/N, per-file lines, summary; ``frames``
    is the video progress factory); on Ctrl-C / SIGTERM print which files were finished and exit 130 /
    143 (typer would otherwise turn the interrupt into a silent exit 130). With ``describe`` a batch's
    per-file line is the file's report line, printed as it finishes (pass ``streamed=True`` to _finish)."""
    from faceveil.api import InputSet

    found = InputSet.collect(inputs)
    progress, frames = _start_progress(found.items, quiet=quiet)
    finished: list[str] = []

    def on_file(report) -> None:
        if report.ok and not report.skipped:
            finished.append(f"{report.input} -> {report.output}")
        _file_done(progress, report, _report_lines(report, describe) if describe and report.ok else None)

    try:
        with progress:
            return run(found, on_file, frames)
    except KeyboardInterrupt:
        what, code = ("terminated", 143) if _terminated else ("interrupted", 130)
        _err(f"{what}; finished: {', '.join(finished) if finished else 'no file'}")
        raise typer.Exit(code) from None


def _report_lines(r, describe) -> str:
    """A finished file's report: its line (or the reason it was skipped) and its notes."""
    from faceveil.progress import one_line

    if r.skipped:
        return one_line(f"{r.input}: {r.notes[0] if r.notes else 'skipped'}")
    return "\n".join([one_line(describe(r)), *(one_line(f"  note: {note}") for note in r.notes)])


def _finish(reports, as_json: bool, describe, *, quiet: bool = False, streamed: bool = False) -> int:
    """JSON on stdout, or each file's line on stderr: not again for a batch whose progress already
    printed them as they finished (``streamed``), none but errors with ``quiet``."""
    failed = [r for r in reports if not r.ok]
    streamed = streamed and not quiet and len(reports) > 1  # as _start_progress: batches show progress
    if as_json:
        print(json.dumps({"files": [r.to_dict() for r in reports], "ok": len(reports) - len(failed),
                          "failed": len(failed)}, indent=2))
    elif not streamed:
        for r in reports:
            if not r.ok:
                _err(r.error)
            elif not quiet:
                print(_report_lines(r, describe), file=sys.stderr)
    if not failed:
        return 0
    codes = {r.exit_code for r in failed}
    return codes.pop() if len(codes) == 1 else 1


# ------------------------------------------------------------------------------------------ help texts


def _format_default(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def plugin_options_help() -> str:
    """Every detector and each method's ``-O`` keys with their defaults, read from the registry's schemas
    (faceveil.plugins), so the help cannot drift from the code. Paragraphs for typer's rich help."""
    lines = ["Detectors (--detector): " + "; ".join(f"{p.name}: {p.summary}" for p in DETECTORS) + "."]
    from faceveil.methods.ratings import table_help

    lines.append(table_help(sep="\n\n"))
    lines.append("Method options (-O KEY=VALUE; defaults shown):")
    for plugin in METHODS:
        options = ", ".join(f"{k}={_format_default(v)}" for k, v in plugin.option_defaults().items())
        lines.append(f"  {plugin.name} ({plugin.summary}): {options or 'none'}")
    return "\n\n".join(lines)


class _SchemaHelpCommand(typer.core.TyperCommand):
    """Fills in help read from the plug-in schemas only when help is shown: the schemas import the
    detector and method modules (cv2, numpy), which plain commands should not pay for at start-up."""

    def format_help(self, ctx, formatter) -> None:
        self.epilog = plugin_options_help()
        detector = DETECTORS.get(DEFAULT_DETECTOR).option_defaults()
        for param in self.params:
            if param.name == "threshold":
                param.show_default = f"{detector['threshold']} with {DEFAULT_DETECTOR}; other detectors their own"
        return super().format_help(ctx, formatter)


def _version_callback(value: bool) -> None:
    if value:
        from faceveil import __version__

        print(f"faceveil {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Reversible face anonymization: anonymize every face in photos and videos; key holders recover the originals."""


# ------------------------------------------------------------------------------------------ progress


def _start_progress(items: list[tuple[Path, Path]], *, quiet: bool):
    """A files reporter (X/N, one line per file off a terminal, summary line) and the video frame
    progress factory for api.VideoSettings.progress. A single video gets a frame bar; in a batch the
    file bar stays the only live display (rich allows one) and videos report plain lines off a terminal."""
    import contextlib

    from faceveil.progress import Progress

    files = Progress(len(items), unit="file", enabled=not quiet and len(items) > 1)

    @contextlib.contextmanager
    def frames(src: Path):
        if quiet or (files.interactive and len(items) > 1):
            yield None
            return
        with Progress(None, unit="frame", label=src.name, interactive=None if len(items) == 1 else False) as p:
            yield p.video_callback()

    return files, (frames if not quiet else False)


def _file_done(progress, report, line: Optional[str] = None) -> None:
    progress.file_done(report.input.name, faces=report.face_count, error=None if report.ok else report.error,
                       payload_bytes=report.payload_bytes, seconds=report.timings.get("total"), line=line)


def _face_options(shape: str, mask_scale: float, boxes: Optional[Path], preview: bool, draw_boxes: bool):
    """--shape/--mask-scale/--boxes/--preview/--draw-boxes -> pipeline.options.FaceOptions."""
    from faceveil.faces.boxes import load_boxes
    from faceveil.pipeline.options import mask_options

    return mask_options(shape, mask_scale, boxes=load_boxes(boxes) if boxes is not None else None, preview=preview,
                        draw_boxes=draw_boxes)


def _runtime_options(scale: Optional[str], threads: Optional[int], device: str):
    """--scale/--threads/--device -> faceveil.runtime.RuntimeOptions."""
    from faceveil.runtime import RuntimeOptions, parse_scale

    return RuntimeOptions(scale=parse_scale(scale) if scale else None, threads=threads, device=device)


_FACES = "Faces and mask"
_SPEED = "Speed"
# deface's default look for every method (faceveil.faces.mask.DEFACE_MASK_SCALE; a test keeps them equal)
_MASK_SCALE_DEFAULT = 1.3


# ---------------------------------------------------------------------------------------------
# key material and limits, shared by the commands


def _sealing_passphrase(payload: str, recipients: list[Path], also_passphrase: bool, password_file: Optional[Path]) -> Optional[str]:
    """The passphrase recipient of a new payload: always without --recipient; with it only on
    --also-passphrase, so a stray $FACEVEIL_PASSPHRASE never adds a second way in (issue 12 #1)."""
    if payload == "none":
        return None
    if recipients and not also_passphrase:
        if password_file is not None:
            raise UsageError("--password-file with --recipient: add --also-passphrase to seal for the passphrase too")
        return None
    return read_passphrase(password_file, confirm=True, required=True)


def _max_pixels(value: Optional[int]) -> int:
    """--max-pixels, or the decode limit of faceveil.io.images (imported here: it pulls in numpy)."""
    from faceveil.io.images import DEFAULT_MAX_PIXELS

    if value is not None and value < 1:
        raise UsageError(f"--max-pixels must be a positive number of pixels, got {value}")
    return DEFAULT_MAX_PIXELS if value is None else value


def _identities(key: list[Path], key_password_file: Optional[Path], password_file: Optional[Path], trust_kdf_cost: bool):
    """Opening identities from recover's / inspect --verify's key flags."""
    from faceveil import api
    from faceveil.crypto.keys import ARGON2_FORMAT_LIMITS, DEFAULT_ARGON2_LIMITS

    key_passphrase = None
    if key_password_file is not None:
        key_passphrase = read_passphrase(key_password_file, confirm=False, required=True)
    passphrase = read_passphrase(password_file, confirm=False, required=not key)
    limits = ARGON2_FORMAT_LIMITS if trust_kdf_cost else DEFAULT_ARGON2_LIMITS
    return api.make_identities(passphrase, key, key_passphrase, limits=limits)


KeyOption = Annotated[list[Path], typer.Option("--key", "-k", help="X25519 private key file (from `faceveil keygen`).")]
KeyPasswordOption = Annotated[Optional[Path], typer.Option("--key-password-file", help="Passphrase protecting the private key file.")]
PasswordOption = Annotated[Optional[Path], typer.Option("--password-file", help=f"Read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).")]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for the detector, the methods and video decoding/encoding (per worker on --engine ray). Default: every core.", show_default=False, min=1, rich_help_panel=_SPEED)]
TrustKdfOption = Annotated[bool, typer.Option("--trust-kdf-cost", help="Accept any Argon2id cost the format allows (default ceiling: 1 GiB, t<=32; docs/format.md#11-limits); only for files you trust.", rich_help_panel="Limits")]


@app.command(cls=_SchemaHelpCommand)
def anonymize(
    inputs: Annotated[list[Path], typer.Argument(help="Image/video files or folders (searched recursively).", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output file (one input) or folder (several). Default: <name>.anon.<ext> beside each input.")] = None,
    method: Annotated[str, typer.Option("-m", "--method", help=METHODS.help(DEFAULT_METHOD) + ".")] = DEFAULT_METHOD,
    obfuscation: Annotated[Optional[str], typer.Option("--obfuscation", help="PRO-Face S pre-obfuscation: blur, median, pixelate, mask, hybrid (the shipped weights: blur, median, pixelate).")] = None,
    option: Annotated[list[str], typer.Option("--option", "-O", help="Method option KEY=VALUE (repeatable), e.g. -O cells=8.")] = [],
    threshold: Annotated[Optional[float], typer.Option("--threshold", "-t", help="Face detection threshold (lower finds more faces).")] = None,
    detector: Annotated[str, typer.Option("--detector", help="Face detector: " + DETECTORS.help(DEFAULT_DETECTOR) + ".")] = DEFAULT_DETECTOR,
    payload: Annotated[str, typer.Option("--payload", help="Where the encrypted recovery payload goes: embedded, sidecar, both, none (irreversible; with PRO-Face S and a passphrase: pixel-only, recoverable from the pixels alone).")] = "embedded",
    recipient: Annotated[list[Path], typer.Option("--recipient", "-r", help="X25519 public key file (from `faceveil keygen`); repeatable. No passphrase is read then (not even $FACEVEIL_PASSPHRASE) unless --also-passphrase.")] = [],
    also_passphrase: Annotated[bool, typer.Option("--also-passphrase", help="With --recipient: add a passphrase recipient too (--password-file, $FACEVEIL_PASSPHRASE or prompt).")] = False,
    password_file: Annotated[Optional[Path], typer.Option("--password-file", help=f"Read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).")] = None,
    compat_password_file: Annotated[Optional[Path], typer.Option("--compat-password-file", help=f"PRO-Face S -O key_mode=compat: read its password from this file (else ${COMPAT_PASSWORD_ENV}, else a prompt).")] = None,
    output_format: Annotated[Optional[str], typer.Option("--format", "-f", help="Output format: png, jpg, webp, tiff, bmp (default: the input's; png/webp/tiff/bmp recover bit-exactly).")] = None,
    quality: Annotated[Optional[int], typer.Option("--quality", help="JPEG quality.", show_default="a JPEG input's own (its quantization tables), else 95")] = None,
    keep_metadata: Annotated[bool, typer.Option("--keep-metadata", help="Keep EXIF/XMP/ICC (stripped by default: GPS, camera serials and names identify people).")] = False,
    keep_icc: Annotated[bool, typer.Option("--keep-icc", help="Keep only the ICC colour profile.")] = False,
    require_faces: Annotated[bool, typer.Option("--require-faces", help="Fail a file in which no face is found.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files (inputs are never overwritten).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Also anonymize files that already carry a faceveil payload (skipped by default: they are outputs of an earlier run).")] = False,
    max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", help="Refuse images with more pixels than this (exit 13; default 120,000,000, and at the default also images needing over 1 GiB to process, e.g. grey above ~107 Mpx, RGB above ~89 Mpx); raise only for files you trust.", rich_help_panel="Limits")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    codec: Annotated[Optional[str], typer.Option("--codec", help="Video: FFmpeg encoder (libx264, libx265, libvpx-vp9, ffv1...).", rich_help_panel="Video")] = None,
    crf: Annotated[Optional[int], typer.Option("--crf", help="Video: quality for x264/x265/VP9 (lower is better; default 18).", rich_help_panel="Video")] = None,
    lossless: Annotated[bool, typer.Option("--lossless", help="Video: lossless output, so recovery is frame-exact.", rich_help_panel="Video")] = False,
    start: Annotated[Optional[float], typer.Option("--start", help="Video: first second to process.", rich_help_panel="Video")] = None,
    end: Annotated[Optional[float], typer.Option("--end", help="Video: second to stop at.", rich_help_panel="Video")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Video: drop the audio (kept, not re-encoded, by default).", rich_help_panel="Video")] = False,
    payload_coding: Annotated[str, typer.Option("--payload-coding", help="Video: how the payload holds the originals. regions: the pixels of every face rectangle (exact on any machine); source: the input's compressed video packets plus a digest per rectangle (much smaller; exact where FFmpeg decodes as here, else recovery exits 14); auto: source when it is smaller and checks out exactly here.", click_type=click.Choice(["auto", "regions", "source"]), rich_help_panel="Video")] = "auto",
    shape: Annotated[str, typer.Option("--shape", help="Mask shape for every method: ellipse (feathered edge, as deface) or box (the whole region); auto = ellipse, but box for methods that recover from pixels (proface-s, g2face), whose network must read back the whole crop.", click_type=click.Choice(["auto", "ellipse", "box"]), rich_help_panel=_FACES)] = "auto",
    mask_scale: Annotated[float, typer.Option("--mask-scale", help="Region size relative to the detector box, as deface's --mask-scale (each side moves out by SCALE-1 box sizes). Recovery stays exact at any value.", min=1.0, max=3.0, rich_help_panel=_FACES)] = _MASK_SCALE_DEFAULT,
    boxes: Annotated[Optional[Path], typer.Option("--boxes", help="JSON file of faces to add or fix (the --json output's schema; video faces may name frames): a box overlapping a detection (IoU > 0.5) replaces it, others are added.", rich_help_panel=_FACES)] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Write the input with detection boxes, scores and track ids drawn (to NAME.preview.EXT; an -o must end in .preview.EXT) and nothing else: no anonymization, no payload, no key.", rich_help_panel=_FACES)] = False,
    keep_refs: Annotated[list[Path], typer.Option("--keep", help="Leave this person's faces untouched: an image with one face, or a folder of one person's photos (repeatable; offline recognizers, docs/review.md).", rich_help_panel=_FACES)] = [],
    only_refs: Annotated[list[Path], typer.Option("--only", help="Anonymize only this person's faces (same references as --keep; repeatable).", rich_help_panel=_FACES)] = [],
    draw_boxes: Annotated[bool, typer.Option("--draw-boxes", help="Also draw boxes, scores and track ids on the anonymized output (recorded in the payload: recovery stays exact).", rich_help_panel=_FACES)] = False,
    scale: Annotated[Optional[str], typer.Option("--scale", help="Detect at a lower resolution, WIDTHxHEIGHT (e.g. 640x360): the image's longest side at most the larger of the two (aspect kept, no full-resolution tiles); faster, misses small faces. Default: the detector's own (up to 1920 px plus tiles).", show_default=False, rich_help_panel=_SPEED)] = None,
    threads: ThreadsOption = None,
    device: Annotated[str, typer.Option("--device", help="Where the detector (onnxruntime) and learned methods (torch) run; cuda needs a GPU and CUDA builds (else exit 10).", click_type=click.Choice(["cpu", "cuda"]), rich_help_panel=_SPEED)] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, per-file lines or summary line on stderr.")] = False,
    engine: scale_cli.Engine = "local", address: scale_cli.Address = None, workers: scale_cli.Workers = None,
    gpus_per_worker: scale_cli.GpusPerWorker = 0.0, batch_size: scale_cli.BatchSize = None,
    suffix: Annotated[str, typer.Option("--suffix", help="Without -o: output names NAME<SUFFIX>.EXT beside the inputs (`faceveil IMAGE` without a command uses deface's _anonymized).")] = ".anon",
    storage_option: scale_cli.StorageOption = [],
) -> int:
    """Anonymize every face; write the anonymized copy plus an encrypted recovery payload."""
    _print_deface_notes()
    from faceveil import api
    from faceveil.methods.base import parse_method_options

    faces = _face_options(shape, mask_scale, boxes, preview, draw_boxes)
    runtime = _runtime_options(scale, threads, device)
    runtime.apply(method)
    options = runtime.method_options(method) | parse_method_options(option)
    refuse_secret_options(options)
    if obfuscation is not None:
        options["obfuscation"] = obfuscation
    from faceveil.methods.ratings import warning as method_warning

    if not preview and (warning := method_warning(method)):  # issue 20: say it, once (even with -q)
        _err(warning)
    if options.get("key_mode") == "compat":
        options["password"] = read_compat_password(compat_password_file, required=True)
        _err(COMPAT_WARNING)
    passphrase = None if preview else _sealing_passphrase(payload, recipient, also_passphrase, password_file)
    if payload == "none" and not preview and _wants_pixel_only(method, options):  # the passphrase keys the pixels
        passphrase = read_passphrase(password_file, confirm=True, required=True)
    max_pixels = _max_pixels(max_pixels)
    detector_options = runtime.detector_options(detector)
    if (keep_refs or only_refs) and preview:
        raise UsageError("--keep/--only choose whom to anonymize; --preview anonymizes nothing")
    if scale_cli.check_engine(engine):
        if keep_refs or only_refs:
            raise UsageError("--keep/--only run on --engine local only")
        if payload == "none" and passphrase is not None:  # ray workers never see the passphrase
            raise InputError("pixel-only mode (--payload none with a passphrase) runs on --engine local only")
        return scale_cli.run_anonymize(locals())
    scale_cli.refuse_cluster_flags(locals())

    def describe(r) -> str:
        if preview:
            return f"{r.input} -> {r.output}: preview of {r.face_count} face(s) (nothing anonymized)"
        where = ", ".join(r.payload) if r.payload else "no payload (irreversible)"
        size = f" ({r.payload_bytes / 1e3:.1f} kB)" if r.payload_bytes else ""
        return f"{r.input} -> {r.output}: {r.face_count} face(s) anonymized with {r.method}; payload: {where}{size}"

    reports = _run_batch(inputs, quiet, lambda found, on_file, frames: api.anonymize(
        found, output, method=method, method_options=options, faces=faces, on_file=on_file,
        keys=api.KeyOptions(passphrase=passphrase, recipients=recipient),
        detect=api.DetectOptions(detector=detector, threshold=threshold, options=detector_options, require_faces=require_faces),
        output_options=api.OutputOptions(format=output_format, quality=quality, keep_metadata=keep_metadata, keep_icc=keep_icc,
                                         payload=payload, overwrite=overwrite, force=force, max_pixels=max_pixels,
                                         suffix=suffix),
        keep=keep_refs, only=only_refs,
        video=api.VideoSettings(codec=codec, crf=crf, lossless=lossless, start=start, end=end,
                                keep_audio=not no_audio, progress=frames, payload_coding=payload_coding),
    ), describe)
    return _finish(reports, as_json, describe, quiet=quiet, streamed=True)


@app.command()
def recover(
    inputs: Annotated[list[Path], typer.Argument(help="Anonymized files or folders.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output file (one input) or folder. Default: <name>.recovered.<ext>.")] = None,
    key: KeyOption = [],
    key_password_file: KeyPasswordOption = None,
    password_file: PasswordOption = None,
    compat_password_file: Annotated[Optional[Path], typer.Option("--compat-password-file", help=f"With --from-pixels on PRO-Face S compat images: read its password from this file (else ${COMPAT_PASSWORD_ENV}).")] = None,
    payload_file: Annotated[Optional[Path], typer.Option("--payload-file", help="Use this payload file instead of the embedded one / the sidecar.")] = None,
    from_pixels: Annotated[bool, typer.Option("--from-pixels", help="Recover from the anonymized pixels (learned methods), not the exact payload.")] = False,
    option: Annotated[list[str], typer.Option("--option", "-O", help="With --from-pixels: method option KEY=VALUE (repeatable), e.g. -O weights=PATH when anonymized with non-default weights.")] = [],
    output_format: Annotated[Optional[str], typer.Option("--format", "-f", help="Output format (default: the input's).")] = None,
    strip_metadata: Annotated[bool, typer.Option("--strip-metadata", help="Do not restore the original EXIF/XMP/ICC.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", help="Refuse images with more pixels than this (exit 13; default 120,000,000, and at the default also images needing over 1 GiB to process, e.g. grey above ~107 Mpx, RGB above ~89 Mpx); raise only for files you trust.", rich_help_panel="Limits")] = None,
    trust_kdf_cost: TrustKdfOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    codec: Annotated[Optional[str], typer.Option("--codec", help="Video: encoder for the recovered video (default: lossless if the anonymized one was).", rich_help_panel="Video")] = None,
    crf: Annotated[Optional[int], typer.Option("--crf", help="Video: quality for lossy codecs.", rich_help_panel="Video")] = None,
    threads: ThreadsOption = None,
    device: Annotated[str, typer.Option("--device", help="Where learned methods' inverses (--from-pixels, torch) run; cuda needs a GPU and a CUDA build of torch (else exit 10).", click_type=click.Choice(["cpu", "cuda"]), rich_help_panel=_SPEED)] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, per-file lines or summary line on stderr.")] = False,
    engine: scale_cli.Engine = "local", address: scale_cli.Address = None, workers: scale_cli.Workers = None,
    gpus_per_worker: scale_cli.GpusPerWorker = 0.0, storage_option: scale_cli.StorageOption = [],
) -> int:
    """Restore the original faces with the passphrase or private key (bit-exact for lossless files)."""
    from faceveil import api
    from faceveil.methods.base import parse_method_options

    runtime = _runtime_options(None, threads, device)
    runtime.apply_recovery(from_pixels=from_pixels)
    options = parse_method_options(option)
    refuse_secret_options(options)
    if from_pixels and (compat := read_compat_password(compat_password_file, required=False)) is not None:
        options["password"] = compat
    max_pixels = _max_pixels(max_pixels)
    if scale_cli.check_engine(engine):  # the cluster derives from the passphrase once, on this driver
        key_passphrase = read_passphrase(key_password_file, confirm=False, required=True) if key_password_file else None
        passphrase = read_passphrase(password_file, confirm=False, required=not key)
        return scale_cli.run_recover(locals())
    scale_cli.refuse_cluster_flags(locals())
    identities = _identities(key, key_password_file, password_file, trust_kdf_cost)

    def describe(r) -> str:
        return f"{r.input} -> {r.output}: {r.face_count} face(s) restored ({', '.join(r.payload)})"

    reports = _run_batch(inputs, quiet, lambda found, on_file, frames: api.recover(
        found, output, identities=identities, payload_file=payload_file, from_pixels=from_pixels,
        method_options=options, output_format=output_format, keep_metadata=not strip_metadata, overwrite=overwrite,
        on_file=on_file, max_pixels=max_pixels, runtime=runtime,
        video=api.VideoSettings(codec=codec, crf=crf, progress=frames),
    ), describe)
    return _finish(reports, as_json, describe, quiet=quiet, streamed=True)


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="An anonymized file.", show_default=False)],
    payload_file: Annotated[Optional[Path], typer.Option("--payload-file", help="Payload file to read instead of the embedded one / sidecar.")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Open the payload with the key (as recover would) and check the pixels against it; without it nothing shown is authenticated.")] = False,
    key: KeyOption = [],
    key_password_file: KeyPasswordOption = None,
    password_file: PasswordOption = None,
    trust_kdf_cost: TrustKdfOption = False,
    max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", help="Refuse images with more pixels than this (exit 13; default 120,000,000, and at the default also images needing over 1 GiB to process).", rich_help_panel="Limits")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Show faces, method, payload and recipients of a file. Needs no key, and so proves nothing:
    `--verify` with the key authenticates it."""
    from faceveil import api

    max_pixels = _max_pixels(max_pixels)
    identities = _identities(key, key_password_file, password_file, trust_kdf_cost) if verify else None
    info = api.inspect(path, payload_file, identities=identities, max_pixels=max_pixels)
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    from faceveil.progress import one_line

    print(one_line(f"{info['file']}: {info['format']} {info['size'][0]}x{info['size'][1]}"))
    if not info.get("payload"):
        print("  recovery payload: none found")
        if info.get("pixel_locator"):
            print(f"  pixel-only locator: yes ({info['pixel_locator']} band); recover --from-pixels with the passphrase")
        return 0
    print(f"  recovery payload: {info['payload']} ({info['payload_bytes']} bytes, format v{info['format_version']})")
    if original := info.get("original_file"):  # photo source coding (docs/format.md §4.1)
        print(f"  holds the original {original['format']} file ({original['bytes']} bytes): recovery returns it byte for byte")
    print(f"  method: {info['method']} {json.dumps(info['method_params']) if info['method_params'] else ''}".rstrip())
    print(f"  faces: {info['face_count']}")
    for f in info["faces"]:
        if "track_id" in f:  # video: one entry per track
            print(f"    track {f['track_id']}: frames {f['first_frame']}-{f['last_frame']} "
                  f"({f['bridged_frames']} bridged), first box {f['box']}")
        else:
            print(f"    box {f['box']} score {f.get('score')} via {f.get('method')}")
    for k in info.get("kept", []):  # left untouched on purpose (--keep/--only, review)
        print(f"    kept {k.get('box')}: {k.get('reason')}")
    for r in info["recipients"]:
        desc = ", ".join(f"{k}={v}" for k, v in r.items() if k != "type")
        print(f"  recipient: {r['type']} ({desc})")
    match = info.get("pixels_match_payload")
    verdict = {True: "yes", False: "NO (modified after anonymization)", None: "not checkable without the key (lossy video)"}[match]
    if info.get("verified"):
        print(f"  verified with the key: payload authentic; pixels checked ({info.get('check', 'exact hash')})")
    else:
        print(f"  pixels match payload hash: {verdict}")
        print("  not verified without the key: anyone can write this header; "
              "`faceveil inspect --verify` with the key authenticates it")
    return 0


@app.command()
def review(
    inputs: Annotated[list[Path], typer.Argument(help="Image/video files or folders to review.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file (one input) or folder (several), as for anonymize.")],
    port: Annotated[int, typer.Option("--port", help="Local port (0: any free one).", min=0, max=65535)] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser; just print the URL.")] = False,
    method: Annotated[str, typer.Option("-m", "--method", help="Method selected at start (the page can change it).")] = DEFAULT_METHOD,
    detector: Annotated[str, typer.Option("--detector", help="Face detector.")] = DEFAULT_DETECTOR,
    threshold: Annotated[Optional[float], typer.Option("--threshold", "-t", help="Face detection threshold.")] = None,
    payload: Annotated[str, typer.Option("--payload", help="Where the recovery payload goes: embedded, sidecar, both, none.")] = "embedded",
    recipient: Annotated[list[Path], typer.Option("--recipient", "-r", help="X25519 public key file; repeatable.")] = [],
    password_file: PasswordOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
) -> int:
    """Check and fix the faces in a local web page (add, delete, move, keep), see the result, then write
    as anonymize does; the decisions are saved as a --boxes file beside the outputs (docs/review.md)."""
    from faceveil.review.server import ReviewSettings, serve

    passphrase = _sealing_passphrase(payload, recipient, False, password_file)
    settings = ReviewSettings(inputs=list(inputs), output=output, method=method, detector=detector, threshold=threshold,
                              passphrase=passphrase, recipients=list(recipient), payload=payload, overwrite=overwrite)

    def announce(url: str) -> None:
        print(url, flush=True)  # the first line on stdout: scripts and tests read it
        print("faceveil review: open the URL above (it holds the access token); Ctrl-C stops the server", file=sys.stderr)

    try:
        serve(settings, port=port, open_browser=not no_open, on_url=announce)
    except KeyboardInterrupt:
        return 0
    return 0


@app.command()
def keygen(
    private_key: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).", show_default=False)],
    public_key: Annotated[Optional[Path], typer.Option("--public", help="Where to write the public key (default: <private>.pub).")] = None,
    protect: Annotated[bool, typer.Option("--protect/--no-protect", help="Encrypt the private key file with a passphrase (--password-file, $FACEVEIL_PASSPHRASE or prompt).")] = False,
    password_file: Annotated[Optional[Path], typer.Option("--password-file", help="Passphrase for --protect.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing key files.")] = False,
) -> int:
    """Create an X25519 key pair: anonymize with the public key, recover with the private key."""
    from faceveil import api

    passphrase = read_passphrase(password_file, confirm=True, required=True) if protect else None
    info = api.keygen(private_key, public_key, passphrase=passphrase, overwrite=overwrite)
    print(f"private key: {info['private_key']} (keep it secret)")
    print(f"public key:  {info['public_key']} (give it to machines that anonymize: --recipient)")
    print(f"key id:      {info['key_id']}")
    return 0


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> int:
    """List every model faceveil can use, where it comes from, and whether it is installed."""
    from faceveil.models_registry import model_statuses

    statuses = model_statuses()
    if as_json:
        print(json.dumps([{"name": s.name, "description": s.description, "source": s.source, "where": s.where,
                           "required": s.required, "installed": s.installed,
                           "path": str(s.path) if s.path else None} for s in statuses], indent=2))
        return 0
    from faceveil.methods.ratings import table_help

    print(table_help() + "\n")
    for s in statuses:
        state = "installed" if s.installed else ("MISSING" if s.required else "not installed (user weights)")
        print(f"{s.name:<30} {state}")
        print(f"    {s.description}")
        print(f"    from: {s.source}")
        print(f"    at:   {s.path if s.path else s.where}")
    return 0


# `faceveil eval` is a typer sub-app of its own (cheap to import); training commands live with their
# methods and import torch, so they are forwarded lazily instead of imported with the CLI.
from faceveil.eval.cli import app as _eval_app  # noqa: E402

app.add_typer(_eval_app, name="eval")

train_app = typer.Typer(help="Train a learned method (options: faceveil train METHOD --help).", no_args_is_help=True,
                        context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(train_app, name="train")
_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _forward(sub_app, args: list[str], prog: str) -> int:
    result = sub_app(args=args, prog_name=prog, standalone_mode=False)
    return result if isinstance(result, int) else 0


def _train_command(plugin):
    """A `faceveil train NAME` command forwarding its arguments to the method's own typer app."""

    def command(ctx: typer.Context) -> int:
        return _forward(plugin.load(), list(ctx.args), f"faceveil train {plugin.name}")

    command.__doc__ = plugin.summary
    train_app.command(plugin.name, context_settings=_FORWARD, add_help_option=False)(command)


for _plugin in TRAIN_COMMANDS:
    _train_command(_plugin)


def main(argv: list[str] | None = None) -> int:
    """Entry point: turns every FaceveilError into one line on stderr and its exit code."""
    import signal

    global _terminated
    _terminated = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        argv = _deface_spellings(sys.argv[1:] if argv is None else list(argv))
        result = app(args=argv, prog_name="faceveil", standalone_mode=False)
    except click.exceptions.Abort:
        _err("aborted")
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare `faceveil` / `faceveil eval`: the help
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:  # the parser's own usage errors too: one line, exit 2
        _err(_one_line_usage(exc))
        return exc.exit_code
    except FaceveilError as exc:
        _err(str(exc))
        return exc.exit_code
    except OSError as exc:  # a path the user typed that the OS refuses (a folder, no permission)
        _err(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return InputError.exit_code
    except _Terminated:
        _err("terminated")
        return 143
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # a bug: say so in one line; FACEVEIL_DEBUG=1 shows the traceback
        if isinstance(exc, ModuleNotFoundError) and (missing := optional_dependency_error(exc, "this command")):
            _err(str(missing))  # torch absent (the `learned` extra) on a path no plug-in guards: eval, train
            return missing.exit_code
        if os.environ.get("FACEVEIL_DEBUG"):
            raise
        _err(f"internal error ({type(exc).__name__}: {exc}); rerun with FACEVEIL_DEBUG=1 and report it")
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    result = result if isinstance(result, int) else 0
    return 143 if result == 130 and _terminated else result


def _deface_spellings(argv: list[str]) -> list[str]:
    """deface's spellings and command-less form rewritten to faceveil's (faceveil.deface_compat). Their
    notes (one line each on stderr, not with -q) wait until the command line has parsed: a usage error
    stays the one line it is."""
    from faceveil import deface_compat

    translation = deface_compat.translate(argv, _command_names())
    _deface_notes[:] = [] if deface_compat.is_quiet(translation.argv) else translation.notes
    return translation.argv


_deface_notes: list[str] = []  # what _deface_spellings rewrote, printed by `anonymize` once it runs


def _print_deface_notes() -> None:
    for note in _deface_notes:
        _err(f"note: {note}")
    _deface_notes.clear()


def _command_names() -> set[str]:
    """The commands' names as typer registers them (building the click group for them would cost as
    much again as parsing the command line)."""
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    return names | {g.name for g in app.registered_groups}


def _one_line_usage(exc: click.ClickException) -> str:
    """click's usage error (four lines: usage, hint, blank, error) as one line with the help hint."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None and ctx.command_path else "faceveil"
    return f"{message} (see '{command} --help')" if isinstance(exc, click.UsageError) else message


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
