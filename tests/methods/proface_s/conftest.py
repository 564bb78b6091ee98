"""Fixtures for PRO-Face S tests: the released checkpoint layout and real aligned faces."""

from __future__ import annotations


import numpy as np
import pytest
import torch

LAYOUT_KEY = "proface_s_modeldwt_inv3"


@pytest.fixture(scope="session")
def reference_layout(reference_layouts) -> list[tuple[str, list[int]]]:
    return [(name, shape) for name, shape, _ in reference_layouts[LAYOUT_KEY]]


@pytest.fixture(scope="session")
def synthetic_state(reference_layout) -> dict[str, torch.Tensor]:
    """A state dict with the released names and shapes, random small values (an 'official' file)."""
    gen = torch.Generator().manual_seed(0)
    return {name: torch.randn(shape, generator=gen) * 0.02 for name, shape in reference_layout}


@pytest.fixture(scope="session")
def aligned_faces() -> dict[str, np.ndarray]:
    """name -> (256, 256, 3) uint8 FFHQ-aligned crops of the held-out sample faces."""
    from faceveil.methods.proface_s.evaluate import aligned_eval_faces

    return aligned_eval_faces(256)


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    torch.set_num_threads(1)
