"""Crops <-> tensors for PRO-Face S, shared by the reference path (method.py) and the fast path (fast.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_model_range(crops: Sequence[np.ndarray]):
    """list of (S, S, 3) uint8 -> (B, 3, S, S) float32 torch tensor in [-1, 1]."""
    import torch

    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(images) -> list[np.ndarray]:
    """(B, 3, S, S) tensor in [-1, 1] -> list of (S, S, 3) uint8 (rounded, clipped)."""
    import torch

    arr = ((images.clamp(-1, 1) + 1) * 127.5).round().to(dtype=torch.uint8)
    return list(arr.permute(0, 2, 3, 1).cpu().numpy())


def same_shape_groups(crops: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """Indices grouped by crop shape, split into batches (the network batches equal shapes only)."""
    by_shape: dict[tuple, list[int]] = {}
    for i, crop in enumerate(crops):
        by_shape.setdefault(crop.shape, []).append(i)
    return [idx[s : s + batch_size] for idx in by_shape.values() for s in range(0, len(idx), batch_size)]
