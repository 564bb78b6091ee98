"""A G2Face engine from one checkpoint file the user names (``weights=``), e.g. one trained with
``faceveil train g2face --priors offline``: the networks are rebuilt from the checkpoint's own layout
and paired with the priors it was trained on.

What recovery needs to rebuild the same engine is :meth:`CheckpointSource.params`: the priors, the
file's *name* (never its full path: the container's method params are unencrypted) and SHA-256, and
the network layout. At recovery the name is looked up as given, then in ``$FACEVEIL_WEIGHTS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from faceveil.errors import InputError, ModelUnavailableError
from faceveil.methods.g2face.checkpoint import read_checkpoint
from faceveil.methods.g2face.engine import G2FaceEngine
from faceveil.methods.g2face.layout import NetworkLayout
from faceveil.methods.g2face.priors import PRIOR_DIMS, PRIOR_KINDS, load_priors
from faceveil.models_registry import weights_dir


def resolve_checkpoint(weights: str | Path) -> Path:
    """The checkpoint file: ``weights`` as given, else ``$FACEVEIL_WEIGHTS/weights``; ModelUnavailableError if neither exists."""
    given = Path(weights).expanduser()
    candidates = [given] if given.is_absolute() else [given, weights_dir() / given]
    for path in candidates:
        if path.is_file():
            return path
    raise ModelUnavailableError(f"G2Face checkpoint not found: {weights} (looked in: {', '.join(str(c) for c in candidates)})")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc}") from None
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckpointSource:
    """Where an engine's networks came from, as recorded in the method's params."""

    path: Path
    sha256: str
    priors: str
    layout: NetworkLayout

    def params(self) -> dict:
        return {"priors": self.priors, "weights": self.path.name, "weights_sha256": self.sha256, "config": self.layout.to_dict()}


def check_priors_match(layout: NetworkLayout, priors: str, source: str) -> None:
    """The mapper's input must be exactly what the priors produce (offline and published differ);
    checked before any prior weights are loaded, so the error names the real problem."""
    dims = PRIOR_DIMS[priors]
    if (layout.identity_dim, layout.geometry_dim) != dims:
        fitting = [k for k, d in PRIOR_DIMS.items() if d == (layout.identity_dim, layout.geometry_dim)]
        hint = f" (it was trained with priors={fitting[0]!r})" if fitting else ""
        raise InputError(
            f"{source} was trained on {layout.identity_dim}-d identity + {layout.geometry_dim}-d geometry priors, "
            f"but priors={priors!r} give {dims[0]} + {dims[1]}{hint}")


def checkpoint_engine(weights: str | Path, priors: str, device: torch.device, *, expected_sha256: str | None = None,
                      expected_layout: dict | None = None) -> tuple[G2FaceEngine, CheckpointSource]:
    """Engine from one checkpoint + the named priors.

    expected_sha256 / expected_layout (from a container's method params) make recovery refuse a
    different file instead of silently producing a wrong face. Raises ModelUnavailableError (file or
    prior weights missing) or InputError (unreadable file, layout or prior mismatch).
    """
    if priors not in PRIOR_KINDS:
        raise InputError(f"unknown priors {priors!r}; choose one of: {', '.join(PRIOR_KINDS)}")
    path = resolve_checkpoint(weights)
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise InputError(f"{path} has sha256 {sha[:12]}…, but these faces were anonymized with a g2face checkpoint "
                         f"of sha256 {str(expected_sha256)[:12]}…; supply that file")
    state = read_checkpoint(path)
    layout = NetworkLayout.from_checkpoint(state, str(path))
    if expected_layout is not None and NetworkLayout.from_dict(expected_layout, "g2face config") != layout:
        raise InputError(f"{path}: network layout {layout.to_dict()} differs from the recorded {expected_layout}")
    check_priors_match(layout, priors, str(path))
    try:
        networks = layout.build()
    except (RuntimeError, ValueError) as exc:  # shapes no G2Face network can have (e.g. zero widths)
        raise InputError(f"{path}: cannot build G2Face networks of layout {layout.to_dict()} ({exc})") from None
    networks.load_state(state, source=str(path)).eval()
    pair = load_priors(priors)
    engine = G2FaceEngine(networks, pair.identity, pair.geometry, device=device)
    return engine, CheckpointSource(path, sha, priors, layout)
