"""`faceveil eval`: measure a faceveil method, or another tool's anonymized images, with the offline
analysis models; write metrics.json and report.html.

Wire into the main CLI with ``app.add_typer(faceveil.eval.cli.app, name="eval")``, or call
:func:`main` with an argv list.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from faceveil.errors import FaceveilError, InputError, UsageError
# = faceveil.pipeline.options' constants (tests/eval/test_one_path.py keeps them equal); not imported:
# `faceveil` imports this module at start-up, and pipeline.options pulls in OpenCV
MASK_SHAPE_CHOICES = ("auto", "ellipse", "box")
DEFAULT_MASK_SHAPE = "auto"
DEFAULT_MASK_SCALE = 1.3
from faceveil.plugins import DEFAULT_DETECTOR, DETECTORS, METHODS
from faceveil.scale import cli as scale_cli

app = typer.Typer(
    name="eval",
    help="Evaluate anonymization: identity hiding, utility kept, recovery quality (offline models).",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def eval_command(
    method: Annotated[list[str], typer.Option("--method", "-m", help="faceveil method to run (" + ", ".join(METHODS.names()) + "); repeat it to compare methods side by side in one report; NAME:KEY=VALUE,... gives one of them its own options")] = [],  # noqa: B006
    option: Annotated[list[str], typer.Option("--option", "-O", help="method option KEY=VALUE (repeatable), e.g. -O cells=12; `faceveil anonymize --help` lists each method's keys and defaults")] = [],  # noqa: B006
    anonymized: Annotated[Optional[Path], typer.Option("--anonymized", help="folder of anonymized images from any tool, paired with --data by file name")] = None,
    recovered: Annotated[Optional[Path], typer.Option("--recovered", help="with --anonymized: folder of recovered images, paired by file name")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="folder of original images (default: the package-shipped sample faces)")] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="LFW-format pairs.txt (names relative to --data) for TAR@FAR")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for metrics.json, report.html and images")] = Path("faceveil-eval"),
    recognizer: Annotated[list[str], typer.Option("--recognizer", help="recognizer(s) to use (default: all available, minus the method's training recognizer)")] = [],  # noqa: B006
    rate_detector: Annotated[list[str], typer.Option("--rate-detector", help="detector(s) measuring whether the anonymized face is still found (default: all but dlib-mmod, the slowest; of: " + ", ".join(DETECTORS.names()) + ")")] = [],  # noqa: B006
    detector: Annotated[str, typer.Option("--detector", "--face-detector", help="face detector that finds the faces to anonymize and measure, as `faceveil anonymize --detector`")] = DEFAULT_DETECTOR,
    threshold: Annotated[Optional[float], typer.Option("--threshold", "-t", help="face detection threshold, as `faceveil anonymize --threshold` (default: the detector's)")] = None,
    shape: Annotated[str, typer.Option("--shape", help="with --method: mask shape, as `faceveil anonymize --shape`", click_type=click.Choice(list(MASK_SHAPE_CHOICES)))] = DEFAULT_MASK_SHAPE,
    mask_scale: Annotated[float, typer.Option("--mask-scale", help="with --method: region size relative to the detector box, as `faceveil anonymize --mask-scale`", min=1.0, max=3.0)] = DEFAULT_MASK_SCALE,
    obfuscation: Annotated[Optional[str], typer.Option("--obfuscation", help="with --method proface-s: its pre-obfuscation, as `faceveil anonymize --obfuscation`")] = None,
    no_landmarks68: Annotated[bool, typer.Option("--no-landmarks68", help="skip dlib 68-point landmark distance")] = False,
    no_facemesh: Annotated[bool, typer.Option("--no-facemesh", help="skip FaceMesh landmark, pose, shape and expression distances")] = False,
    diversity: Annotated[int, typer.Option("--diversity", help="with --method: extra anonymizations per face for diversity and the t-SNE plot")] = 0,
    identities: Annotated[Optional[Path], typer.Option("--identities", help="TSV file 'IMAGE<TAB>PERSON' (image name as in --data, without suffix) naming who is in one-face photos: other photos of the same person join the re-identification gallery's right answers")] = None,
    min_face: Annotated[float, typer.Option("--min-face", help="faces narrower than this (px) are listed apart, not averaged in", min=0.0)] = 30.0,
    far: Annotated[float, typer.Option("--far", help="false accept rate for TAR@FAR")] = 1e-3,
    seed: Annotated[Optional[int], typer.Option("--seed", help="with --method: derive content keys from this seed (reproducible runs)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing report in --out")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="nothing on stdout or stderr unless it fails: no progress, no summary (the report is written all the same)")] = False,
    engine: scale_cli.Engine = "local", address: scale_cli.Address = None, workers: scale_cli.Workers = None,
    gpus_per_worker: scale_cli.GpusPerWorker = 0.0,
) -> None:
    """Evaluate a method (--method) or a folder of anonymized images (--anonymized)."""
    options = parse_options(option) | ({"obfuscation": obfuscation} if obfuscation is not None else {})
    request = EvalRequest(
        method=method[0] if len(method) == 1 else (None if not method else method[0]), methods=tuple(method) if len(method) > 1 else (),
        options=options, anonymized=anonymized, recovered=recovered, data=data, pairs=pairs,
        out=out, recognizers=tuple(recognizer), detectors=tuple(rate_detector), face_detector=detector,
        threshold=threshold, shape=shape, mask_scale=mask_scale, identities=read_identities(identities), min_face=min_face,
        landmarks68=not no_landmarks68, facemesh=not no_facemesh, diversity=diversity, far=far, seed=seed, overwrite=overwrite,
        progress=not quiet,
        cluster=scale_cli.cluster_options(locals()) if scale_cli.check_engine(engine) else None,
    )
    if request.cluster is None:
        scale_cli.refuse_cluster_flags(locals())
    summary = run_eval(request)
    if not quiet:
        print(summary)


def parse_options(pairs: list[str]) -> dict:
    """``-O KEY=VALUE`` strings -> method options (methods.base.parse_method_options, imported here so
    that `faceveil --help` does not import numpy)."""
    from faceveil.methods.base import parse_method_options

    return parse_method_options(pairs)


@dataclass(frozen=True)
class EvalRequest:
    """Everything `faceveil eval` was asked to do (the CLI flags, typed)."""

    out: Path
    method: str | None = None
    methods: tuple[str, ...] = ()  # several methods side by side ("NAME" or "NAME:KEY=VALUE,..."); method = the first
    options: dict = field(default_factory=dict)
    anonymized: Path | None = None
    recovered: Path | None = None
    data: Path | None = None  # None: the package-shipped sample faces
    pairs: Path | None = None
    recognizers: tuple[str, ...] = ()  # empty: every available one
    detectors: tuple[str, ...] = ()  # empty: every one
    face_detector: str = DEFAULT_DETECTOR  # finds the faces, as `anonymize --detector`
    threshold: float | None = None  # its threshold (None: the detector's default)
    shape: str = DEFAULT_MASK_SHAPE  # --method: mask, as `anonymize --shape / --mask-scale`
    mask_scale: float = DEFAULT_MASK_SCALE
    identities: dict = field(default_factory=dict)  # image name -> person (re-identification gallery)
    min_face: float = 30.0  # px: narrower faces are listed apart
    landmarks68: bool = True
    facemesh: bool = True
    diversity: int = 0
    far: float = 1e-3
    seed: int | None = None  # content keys derived from it (method mode); None = random
    overwrite: bool = False
    progress: bool = False  # faceveil.progress on stderr: bar in a terminal, periodic lines otherwise
    cluster: object | None = None  # faceveil.scale.ClusterOptions for --engine ray; None = this process

    def method_runs(self) -> list[tuple[str, str, dict]]:
        """(label, method name, options) of each method to evaluate; -O options go to every one."""
        from faceveil.methods.base import parse_method_options

        specs = self.methods or ((self.method,) if self.method else ())
        runs = []
        for spec in specs:
            name, _, extra = spec.partition(":")
            options = dict(self.options) | (parse_method_options([o for o in extra.split(",") if o]) if extra else {})
            label = spec if len(specs) > 1 else name
            runs.append((label, name, options))
        return runs

    def validate(self) -> None:
        if (self.method is None) == (self.anonymized is None):
            raise UsageError("give exactly one of --method NAME or --anonymized DIR")
        if self.recovered is not None and self.anonymized is None:
            raise UsageError("--recovered goes with --anonymized")
        if self.diversity and self.method is None:
            raise UsageError("--diversity needs --method (it re-runs the method with fresh keys)")
        if self.seed is not None and self.method is None:
            raise UsageError("--seed goes with --method")
        if self.cluster is not None and self.method is None:
            raise UsageError("--engine ray distributes --method evaluations; an --anonymized folder is measured here")
        if self.diversity < 0:
            raise UsageError("--diversity must be >= 0")
        if self.pairs is not None and self.data is None:
            raise UsageError("--pairs needs --data (the folder the pair names are relative to)")
        if not 0 < self.far < 1:
            raise UsageError(f"--far must be in (0, 1), got {self.far}")
        for _, name, options in self.method_runs():  # a bad NAME or KEY=VALUE fails before the report folder exists
            METHODS.check_options(name, options)


def run_eval(request: EvalRequest, argv: list[str] | None = None) -> str:
    """Run an evaluation (one or several methods, or a folder) and write the report; returns a short summary."""
    from dataclasses import replace

    from faceveil.eval.report import ReportWriter, verdicts

    request.validate()
    writer = ReportWriter(Path(request.out))
    writer.check_writable(request.overwrite)
    _limit_threads(eval_threads())
    started = time.perf_counter()
    runs = request.method_runs() or [("", None, {})]
    results = []
    models_by_method: dict = {}
    with _progress(request, len(runs)) as progress:
        for n, (label, name, options) in enumerate(runs):
            single = replace(request, method=name, methods=(), options=options) if name else request
            result = _run_one(single, writer, progress, n, models_by_method, label if len(runs) > 1 else None)
            results.append((label, result))

    if len(runs) > 1:
        evaluated = "methods " + ", ".join(label for label, *_ in runs)
        if request.options:
            evaluated += f" {json.dumps(request.options)}"
    elif request.method:
        evaluated = f"method {request.method} {json.dumps(request.options) if request.options else ''}".strip()
    else:
        evaluated = f"folder {request.anonymized}"
    header = {
        "command": _command_line(argv),
        "evaluated": evaluated,
        "originals": str(request.data) if request.data else "package-shipped sample faces (astronaut, grace_hopper, cameraman)",
        "faces found by": request.face_detector + (f" (threshold {request.threshold})" if request.threshold is not None else ""),
        "mask": f"--shape {request.shape} --mask-scale {request.mask_scale} (as faceveil anonymize)" if request.method else "as in the supplied images",
        "seconds": f"{time.perf_counter() - started:.1f}",
    }
    json_path, html_path = writer.write(results if len(results) > 1 else results[0][1], f"faceveil eval: {evaluated}", header, request.overwrite)
    lines = []
    for label, result in results:
        prefix = f"{label}: " if len(results) > 1 else ""
        hides = ", ".join(f"{r} {'yes' if v['hides'] else 'no'}" for r, v in verdicts(result).items() if v["hides"] is not None)
        lines.append(f"{prefix}{len(result.per_face)} face(s) measured" + (f"; hides identity from: {hides}" if hides else ""))
        lines += [f"  {k}: {result.metrics[k]}" for k in sorted(result.metrics)
                  if k.startswith(("same_person.anonymized", "rank1.anonymized", "identity.anonymized", "detected.", "recovery.psnr"))]
    lines.append(f"wrote {json_path} and {html_path}")
    return "\n".join(lines)


def _run_one(request: EvalRequest, writer, progress, n: int, models_by_method: dict, label: str | None):
    """Evaluate one method (or the folder) of the request; ``n``: how many were done before (progress)."""
    from faceveil.eval.runner import DEFAULT_RATE_DETECTORS, AnalysisModels, EvalConfig, evaluate

    config = EvalConfig(
        recognizers=request.recognizers or None,
        detectors=request.detectors or DEFAULT_RATE_DETECTORS,
        landmarks68=request.landmarks68,
        facemesh=request.facemesh,
        method=request.method.replace("-", "_") if request.method else None,
        identities=dict(request.identities), min_face=request.min_face,
    )
    from faceveil.analysis.recognizers import TRAINING_RECOGNIZERS

    # the models differ between methods only by the recognizers a method trained on (left out): one set per
    # such exclusion, not per method, so `-m A -m B -m C` loads the recognizers and detectors once
    excluded = TRAINING_RECOGNIZERS.get(config.method or "", ())
    if excluded not in models_by_method:
        models_by_method[excluded] = AnalysisModels(config)
    models = models_by_method[excluded]
    skipped: list[str] = []
    source, items = _items(request, skipped)
    per_run = len(_originals(request))  # images per method
    measured = 0

    def on_item(item) -> None:
        nonlocal measured
        writer.add_item(item, label)
        measured += 1
        progress.update(n * per_run + measured + len(skipped))  # skipped originals (no counterpart) count as done

    result = evaluate(items, config, models, on_item=on_item)
    result.notes += [f"skipped {s}" for s in skipped]
    if request.pairs is not None:
        _add_verification(result, request, source, models)
    return result


def _originals(request: EvalRequest):
    from faceveil.eval.sources import original_images

    return original_images(request.data)


def _progress(request: EvalRequest, runs: int = 1):
    """Progress over the originals, once per method (X/N images, rate, ETA): the models take seconds per
    image on a CPU."""
    from faceveil.progress import Progress

    return Progress(len(_originals(request)) * runs, unit="image", label="eval", enabled=request.progress)


def _items(request: EvalRequest, skipped: list[str]):
    """(method source or None, iterator of EvalItem) for the request's mode."""
    if request.method is not None:
        from faceveil.eval.sources import MethodSource

        source = MethodSource(request.method, request.options, request.face_detector, request.diversity, request.seed,
                              shape=request.shape, mask_scale=request.mask_scale, threshold=request.threshold,
                              detector_options=_detector_options(request))
        if request.cluster is not None:
            from faceveil.scale.eval import method_items

            return source, method_items(request, skipped)
        return source, source.items(request.data, skipped)
    from faceveil.eval.sources import folder_items
    from faceveil.faces.detect import create_detector

    detector = create_detector(request.face_detector, **_threshold(request))
    return None, folder_items(request.data, request.anonymized, detector, request.recovered, skipped)


def eval_threads() -> int:
    """CPU threads each library gets: the cores this process may use, at most 4. One number for torch,
    OpenCV, onnxruntime and OpenMP, so no library oversubscribes the cores another is using."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _limit_threads(n: int) -> None:
    """Set before the analysis models load: OpenMP pools (torch, dlib's BLAS) otherwise start one
    spinning thread per core next to onnxruntime's, and a 2-core machine runs several times slower."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    from faceveil.runtime import set_threads

    set_threads(n, torch_too=True)


def read_identities(path: Path | None) -> dict[str, str]:
    """``--identities`` TSV (IMAGE<TAB>PERSON per line, # comments) -> {image name: person}."""
    if path is None:
        return {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--identities {path}: {exc}") from None
    out = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise InputError(f"--identities {path}:{n}: expected 'IMAGE<TAB>PERSON', got {line!r}")
        out[str(Path(parts[0].strip()).with_suffix(""))] = parts[1].strip()
    return out


def _threshold(request: EvalRequest) -> dict:
    return {} if request.threshold is None else {"threshold": request.threshold}


def _detector_options(request: EvalRequest) -> dict:
    """The face detector's options as `faceveil anonymize` passes them (faceveil.runtime)."""
    from faceveil.runtime import RuntimeOptions

    return RuntimeOptions(threads=eval_threads()).detector_options(request.face_detector)


def _command_line(argv: list[str] | None) -> str:
    """How this evaluation was started, for the report (reproducibility)."""
    if argv is not None:
        return shlex.join(["faceveil", "eval", *argv])
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "faceveil"
    if program in ("cli.py", "__main__.py"):
        program = "python -m faceveil.eval.cli"
        return program + " " + shlex.join(sys.argv[1:])
    return shlex.join([program, *sys.argv[1:]])


def _add_verification(result, request: EvalRequest, source, models) -> None:
    """TAR@FAR on the request's pairs file, second image anonymized (by the method, or from the folder)."""
    from faceveil.eval.pairs import parse_pairs
    from faceveil.eval.sources import IMAGE_SUFFIXES, load_rgb
    from faceveil.eval.verification import evaluate_pairs
    from faceveil.faces.detect import create_detector

    def anonymize(path: Path, rgb):
        if source is not None:
            return source.item(path.stem, rgb).anonymized
        rel = path.relative_to(request.data).with_suffix("")
        for suffix in IMAGE_SUFFIXES:
            candidate = (request.anonymized / rel).with_suffix(suffix)
            if candidate.exists():
                return load_rgb(candidate)
        raise InputError(f"no anonymized image for {rel} in {request.anonymized}")

    skipped: list[str] = []
    pairs = parse_pairs(request.pairs, request.data)
    far = request.far
    results = evaluate_pairs(pairs, anonymize, models.recognizers, create_detector(request.face_detector, **_threshold(request)), far, skipped)
    for r in results:
        result.dataset[f"tar@far={far:g}.original.{r.recognizer}"] = r.original.tar
        result.dataset[f"tar@far={far:g}.anonymized.{r.recognizer}"] = r.anonymized.tar
    if skipped:
        result.notes.append(f"pairs: {len(skipped)} skipped, e.g. {skipped[0]}")
    if not results:
        result.notes.append("pairs: no usable pair")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m faceveil.eval.cli ARGS``; FaceveilError -> one line and its exit code."""
    import click

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, standalone_mode=False)
    except FaceveilError as exc:
        print(f"faceveil eval: {exc}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
