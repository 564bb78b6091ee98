"""Every model file faceveil can use: what it is, where it comes from, where faceveil looks for it.

`faceveil models` prints this table. Package-shipped models are located inside installed packages
(never downloaded); user-supplied checkpoints (the papers' releases) are looked up in
``$FACEVEIL_WEIGHTS`` (default ``~/.cache/faceveil/weights``) or an explicit path.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faceveil.errors import ModelUnavailableError


def weights_dir() -> Path:
    return Path(os.environ.get("FACEVEIL_WEIGHTS", Path.home() / ".cache" / "faceveil" / "weights"))


def cache_dir() -> Path:
    """Where derived files (rewritten or exported model graphs) are kept between runs:
    $FACEVEIL_CACHE_DIR, else $XDG_CACHE_HOME/faceveil, else ~/.cache/faceveil. Everything in it can be
    deleted; it is rebuilt on the next run."""
    if os.environ.get("FACEVEIL_CACHE_DIR"):
        return Path(os.environ["FACEVEIL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faceveil"


_CACHE_MAGIC = b"FVCACHE1"


def cached_derivation(name: str, source: bytes, version: int, derive: Callable[[bytes], bytes]) -> bytes:
    """``derive(source)``, kept in :func:`cache_dir` so later runs skip it (e.g. CenterFace's graph
    rewrite, which needs the slow-to-import ``onnx`` package). The file name holds the SHA-256 of the
    source and ``version`` (bump it when ``derive`` changes): a changed source never reuses a stale
    result. The file starts with the SHA-256 of its body: a truncated or corrupted file is rebuilt.
    Writing is best effort (an unwritable cache only costs the derivation again) and atomic."""
    import contextlib
    import hashlib

    key = hashlib.sha256(source + b"|v%d" % version).hexdigest()[:24]
    path = cache_dir() / f"{name}-{key}.bin"
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    head = len(_CACHE_MAGIC) + 32
    if data[: len(_CACHE_MAGIC)] == _CACHE_MAGIC and hashlib.sha256(data[head:]).digest() == data[len(_CACHE_MAGIC) : head]:
        return data[head:]
    body = derive(source)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(_CACHE_MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
    return body


def package_file(package: str, *parts: str) -> Path | None:
    """Path of a data file inside an installed package, found without importing the package
    (face_recognition_models' __init__ imports pkg_resources, which new setuptools lacks)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root, *parts)
        if path.exists():
            return path
    return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    source: str  # package / release it comes from, with license
    locate: Callable[[], Path | None]  # returns the file if present
    where: str  # human description of where faceveil looks
    required: bool = False  # required for the default pipeline (install fails without it)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    description: str
    source: str
    where: str
    required: bool
    path: Path | None

    @property
    def installed(self) -> bool:
        return self.path is not None

    @property
    def status(self) -> str:
        if self.path is not None:
            return f"installed  {self.path}"
        return "missing (user weights needed)" if not self.required else "missing"


_SPECS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    _SPECS[spec.name] = spec
    return spec


def user_weight(filename: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        p = weights_dir() / filename
        return p if p.exists() else None

    return locate


def _import_all() -> None:
    import importlib

    from faceveil.plugins import MODEL_MODULES

    for mod in MODEL_MODULES:  # every plug-in's module registers its model files on import
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def model_statuses() -> list[ModelStatus]:
    _import_all()
    return [
        ModelStatus(s.name, s.description, s.source, s.where, s.required, s.locate()) for s in _SPECS.values()
    ]


def require_model(name: str) -> Path:
    """Path of a registered model file, or ModelUnavailableError saying what it is and where we looked."""
    if name not in _SPECS:  # registered by its module's import; importing every plug-in costs start-up time
        _import_all()
    spec = _SPECS[name]
    path = spec.locate()
    if path is None:
        raise ModelUnavailableError(f"model {name!r} ({spec.description}) not found; looked in {spec.where}. Source: {spec.source}")
    return path


def require_models(names: list[str]) -> dict[str, Path]:
    """Like require_model for several files, reporting every missing one in a single error."""
    if not set(names) <= set(_SPECS):
        _import_all()
    found, missing = {}, []
    for name in names:
        spec = _SPECS[name]
        path = spec.locate()
        if path is None:
            missing.append(f"{name}: {spec.description}; looked in {spec.where} (from {spec.source})")
        else:
            found[name] = path
    if missing:
        raise ModelUnavailableError("missing model files: " + " | ".join(missing))  # one line, as every error
    return found
