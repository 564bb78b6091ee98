"""What a run is asked to do, as plain picklable data shipped to every worker (never a secret)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from faceveil.scale.location import Location

ANONYMIZE, RECOVER = "anonymize", "recover"


@dataclass(frozen=True)
class ClusterOptions:
    """``--engine``, ``--address``, ``--workers``, ``--gpus-per-worker``, ``--batch-size``."""

    engine: str = "local"
    address: str | None = None  # None: start a local Ray runtime; "auto" or "HOST:PORT": join a cluster
    workers: int | None = None  # None: as many as the cluster's CPUs (or GPUs / gpus_per_worker)
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_size: int | None = None  # images per worker call; None: 8 for learned methods, else 1 (worker.py)
    # fsspec options for the object store (--storage-option KEY=VALUE, e.g. endpoint_url): applied on the
    # driver and carried to every Ray process of the run through runtime_env (fsspec reads FSSPEC_<PROTO>)
    storage_options: tuple[tuple[str, str], ...] = ()

    def fsspec_env(self, protocols) -> dict[str, str]:
        """The FSSPEC_<PROTOCOL> variables (JSON) that give ``protocols`` the storage options."""
        if not self.storage_options:
            return {}
        options = {k: _value(v) for k, v in self.storage_options}
        return {f"FSSPEC_{p.upper()}": json.dumps(options) for p in sorted(set(protocols)) if p != "file"}

    def runtime_env(self, protocols=()) -> dict | None:
        env = self.fsspec_env(protocols)
        return {"env_vars": env} if env else None


def _value(text: str):
    """``true``/``false``/numbers as JSON (fsspec options like ``use_ssl=false``), anything else as text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class AnonymizeSettings:
    """The arguments of ``faceveil.api.Anonymizer`` (minus recipients) plus the video choices."""

    method: str = "mosaic"
    method_options: dict = field(default_factory=dict)
    detector: str = "centerface"
    threshold: float | None = None
    payload: str = "embedded"
    keep_metadata: bool = False
    keep_icc: bool = False
    quality: int | None = None  # None: a JPEG input's own quantization tables (as the CLI)
    require_faces: bool = False
    seed: int | None = None
    video: object | None = None  # faceveil.api.VideoSettings
    faces: object | None = None  # faceveil.pipeline.options.FaceOptions (mask, boxes, preview, draw_boxes)
    detector_options: dict = field(default_factory=dict)  # --scale / --threads / --device (faceveil.runtime)
    runtime: object | None = None  # faceveil.runtime.RuntimeOptions: each worker applies its --threads / --device


@dataclass(frozen=True)
class RecoverSettings:
    from_pixels: bool = False
    method_options: dict = field(default_factory=dict)
    keep_metadata: bool = True
    video: object | None = None
    runtime: object | None = None  # faceveil.runtime.RuntimeOptions (--threads, --device), applied per worker


@dataclass(frozen=True)
class Job:
    command: str  # ANONYMIZE or RECOVER
    src: Location
    dst: Location
    run: str
    output_format: str | None = None  # e.g. "png"; None keeps each input's
    anonymize: AnonymizeSettings | None = None
    recover: RecoverSettings | None = None
    public_keys: tuple[bytes, ...] = ()  # recipients' PEM public keys (anonymize)
    passphrase_salt: bytes | None = None  # the run's salt (anonymize with a passphrase)
    argon2: tuple[int, int, int] | None = None  # (time_cost, memory_kib, parallelism) of that salt
    passphrase_recovery: bool = False  # recover: derived secrets are requested from the driver per salt
    private_keys: int = 0  # recover: how many X25519 private keys the driver will send

    def output_name(self, rel_input: str) -> str:
        """The mirrored relative output name, with the extension rules of the single-process CLI."""
        from faceveil.api import plan_output
        from pathlib import Path

        fmt_ext = None if self.output_format is None else "." + self.output_format.lower().lstrip(".")
        root = Path("/")
        out = plan_output(root / rel_input, root, root, batch=True, suffix="", fmt_ext=fmt_ext)
        return PurePosixPath(out.relative_to(root)).as_posix()


@dataclass(frozen=True)
class Item:
    input: str  # relative to job.src
    output: str  # relative to job.dst
    attempt: int = 0  # >0: an earlier attempt died mid-write; its temp files are swept first
