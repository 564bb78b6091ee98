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
    _import_all()
    spec = _SPECS[name]
    path = spec.locate()
    if path is None:
        raise ModelUnavailableError(f"model {name!r} ({spec.description}) not found; looked in {spec.where}. Source: {spec.source}")
    return path


def require_models(names: list[str]) -> dict[str, Path]:
    """Like require_model for several files, reporting every missing one in a single error."""
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
