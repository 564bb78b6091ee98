"""Synthetic state dicts built from the published checkpoint layouts (names, shapes, dtypes)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest
import torch

_CANDIDATES = [
    Path(os.environ.get("FACEVEIL_REFERENCE_DIR", "/nonexistent")),
    Path(__file__).resolve().parents[2] / "data",  # the copy kept with the tests (tests/data/README.md)
    Path(__file__).resolve().parents[3] / "shared" / "reference",
    Path(__file__).resolve().parents[4] / "shared" / "reference",
]


@lru_cache(maxsize=1)
def reference_layouts() -> dict:
    for directory in _CANDIDATES:
        path = directory / "reference_checkpoints.json"
        if path.exists():
            return json.loads(path.read_text())
    pytest.skip("reference_checkpoints.json not found (set FACEVEIL_REFERENCE_DIR)")


def layout(*keys: str) -> list[tuple[str, list[int], str]]:
    node = reference_layouts()
    for k in keys:
        node = node[k]
    return node


def synthetic_state_dict(entries, seed: int = 0, prefix: str = "") -> dict[str, torch.Tensor]:
    """Random tensors with exactly the published names/shapes/dtypes (ints get small counts)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, dtype in entries:
        if dtype.startswith("int"):
            out[prefix + name] = torch.randint(0, 1000, shape, generator=g, dtype=getattr(torch, dtype))
        elif name.endswith("running_var"):
            out[prefix + name] = torch.rand(shape, generator=g) + 0.5
        else:
            out[prefix + name] = torch.randn(shape, generator=g, dtype=getattr(torch, dtype))
    return out
