"""The ``--engine ray`` side of ``faceveil anonymize`` / ``recover`` / ``eval``.

faceveil/cli.py declares the cluster flags with the aliases below and, for ``--engine ray``, hands
its parsed parameters over in one call (``run_anonymize(locals())``), so the command modules stay
unchanged otherwise. Importing this module is cheap (no Ray).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated, Optional

import typer

from faceveil.errors import UsageError

_PANEL = "Cluster"
Engine = Annotated[str, typer.Option("--engine", help="local (this process) or ray (a Ray cluster: resumable, exactly-once; see docs/scale.md).", rich_help_panel=_PANEL)]
Address = Annotated[Optional[str], typer.Option("--address", help="Ray cluster to join (auto, or HOST:PORT); default: start a local Ray runtime.", rich_help_panel=_PANEL)]
Workers = Annotated[Optional[int], typer.Option("--workers", help="Ray workers (long-lived actors); default: one per CPU (or per --gpus-per-worker).", rich_help_panel=_PANEL)]
GpusPerWorker = Annotated[float, typer.Option("--gpus-per-worker", help="GPUs per Ray worker (fractions allowed); 0 = CPU.", rich_help_panel=_PANEL)]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="--engine ray: images per worker call (a learned method's faces are batched across them); default 8 for learned methods, 1 otherwise.", rich_help_panel=_PANEL)]
StorageOption = Annotated[list[str], typer.Option("--storage-option", help="--engine ray: an fsspec option for s3:// gs:// URLs, KEY=VALUE (e.g. endpoint_url=http://minio:9000); repeatable. Applied here and carried to every Ray worker through runtime_env. Not for credentials (docs/scale.md).", rich_help_panel=_PANEL)]

ENGINES = ("local", "ray")
# fsspec options that carry credentials: runtime_env is stored in the cluster's GCS and shown by its
# dashboard, so they are refused; give them to the nodes (instance role, credential files, env of `ray start`)
SECRET_STORAGE_OPTIONS = ("key", "secret", "token", "password", "session_token", "client_secret",
                          "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "credentials")


def check_engine(engine: str) -> bool:
    """True for ``ray``; False for ``local``; a usage error (exit 2) otherwise."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine == "ray"


def refuse_cluster_flags(p: dict) -> None:
    """On ``--engine local`` a cluster flag would be ignored in silence: a usage error (exit 2) instead."""
    given = [flag for flag, key in (("--address", "address"), ("--workers", "workers"), ("--batch-size", "batch_size"),
                                    ("--storage-option", "storage_option"))
             if p.get(key) not in (None, [], ())]
    if p.get("gpus_per_worker"):
        given.append("--gpus-per-worker")
    if given:
        raise UsageError(f"{', '.join(given)} only apply with --engine ray (this run is --engine local)")


def cluster_options(p: dict):
    from faceveil.scale.job import ClusterOptions

    if p.get("workers") is not None and p["workers"] < 1:
        raise UsageError("--workers must be at least 1")
    if p.get("gpus_per_worker", 0) < 0:
        raise UsageError("--gpus-per-worker must be >= 0")
    if p.get("batch_size") is not None and p["batch_size"] < 1:
        raise UsageError("--batch-size must be at least 1")
    return ClusterOptions(engine=p["engine"], address=p.get("address"), workers=p.get("workers"),
                          gpus_per_worker=p.get("gpus_per_worker") or 0.0, batch_size=p.get("batch_size"),
                          storage_options=storage_options(p.get("storage_option") or ()))


def storage_options(pairs) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` strings -> pairs; a malformed one or a credential is a usage error (exit 2)."""
    out = []
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--storage-option takes KEY=VALUE, got {text!r}")
        if key.strip().lower() in SECRET_STORAGE_OPTIONS:
            raise UsageError(f"--storage-option {key.strip()}=...: credentials do not travel through Ray's runtime_env "
                             "(it is stored on the cluster); give them to the nodes instead (docs/scale.md)")
        out.append((key.strip(), value))
    return tuple(out)


def as_url(path) -> str:
    """The location as typed: typer hands over a Path, which folds ``s3://b/k`` into ``s3:/b/k``."""
    text = str(path)
    m = re.match(r"^([A-Za-z][\w+.-]+):/(?!/)(.*)$", text)
    if m is None:
        return text
    protocol, rest = m.groups()
    return f"file:///{rest}" if protocol == "file" else f"{protocol}://{rest}"


def _one_folder(p: dict) -> tuple[str, str]:
    inputs, output = p["inputs"], p.get("output")
    if len(inputs) != 1 or output is None:
        raise UsageError("--engine ray takes one input folder (or URL) and an output folder: SRC -o DST")
    return as_url(inputs[0]), as_url(output)


def run_anonymize(p: dict) -> int:
    """``faceveil anonymize SRC -o DST --engine ray``; ``p`` is the command's parameters (after the
    passphrase was read and ``-O`` options parsed into ``options``)."""
    import faceveil.api as api
    import faceveil.scale as scale

    src, dst = _one_folder(p)
    video = api.VideoSettings(codec=p.get("codec"), crf=p.get("crf"), lossless=p.get("lossless", False),
                              start=p.get("start"), end=p.get("end"), keep_audio=not p.get("no_audio", False),
                              payload_coding=p.get("payload_coding", "auto"))
    settings = scale.AnonymizeSettings(
        method=p["method"], method_options=p.get("options") or {}, detector=p["detector"], threshold=p.get("threshold"),
        payload=p["payload"], keep_metadata=p["keep_metadata"], keep_icc=p["keep_icc"], quality=p["quality"],
        require_faces=p["require_faces"], video=video, faces=p.get("faces"),
        detector_options=p.get("detector_options") or {}, runtime=p.get("runtime"),
    )
    with quiet_stdout(p.get("as_json", False)):
        summary = scale.anonymize(src, dst, cluster=cluster_options(p), passphrase=p.get("passphrase"),
                                  recipients=p.get("recipient") or (), settings=settings,
                                  output_format=p.get("output_format"), overwrite=p["overwrite"],
                                  progress=not p.get("as_json") and not p.get("quiet"))
    return report(summary, p.get("as_json", False), p.get("quiet", False))


def run_recover(p: dict) -> int:
    """``faceveil recover SRC -o DST --engine ray`` (see ``run_anonymize``)."""
    import faceveil.api as api
    import faceveil.scale as scale

    src, dst = _one_folder(p)
    if p.get("payload_file") is not None:
        raise UsageError("--payload-file names one file's payload; it does not apply to a folder on --engine ray")
    settings = scale.RecoverSettings(
        from_pixels=p.get("from_pixels", False), method_options=p.get("options") or {},
        keep_metadata=not p.get("strip_metadata", False),
        video=api.VideoSettings(codec=p.get("codec"), crf=p.get("crf")), runtime=p.get("runtime"),
    )
    with quiet_stdout(p.get("as_json", False)):
        summary = scale.recover(src, dst, cluster=cluster_options(p), passphrase=p.get("passphrase"),
                                private_keys=p.get("key") or (), key_passphrase=p.get("key_passphrase"),
                                settings=settings, output_format=p.get("output_format"), overwrite=p["overwrite"],
                                progress=not p.get("as_json") and not p.get("quiet"))
    return report(summary, p.get("as_json", False), p.get("quiet", False))


def quiet_stdout(as_json: bool):
    """With --json, whatever Ray prints while the run goes on (its driver-side error listener writes
    "(raylet) A worker died..." to stdout) goes to stderr: stdout holds the JSON summary alone."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


def report(summary, as_json: bool, quiet: bool = False) -> int:
    """Failures one line each and the summary on stderr (or all of it as JSON on stdout; no summary
    with -q); the exit code follows the single-process rule: 0, the one failure code, or 1 for mixed
    failures."""
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        for r in summary.failures:
            print(f"faceveil: {r.error}", file=sys.stderr)
        if not quiet:
            print(summary.describe(), file=sys.stderr)
    return summary.exit_code
