"""Exact t-SNE (van der Maaten & Hinton 2008) for the small embedding sets of a diversity plot.

O(N^2) memory and time: meant for a few hundred points (N anonymizations of a handful of faces),
which is what the G2Face-style diversity figure shows. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceveil.errors import InputError


@dataclass(frozen=True)
class TsneConfig:
    perplexity: float = 10.0  # effective neighbour count; capped at (N - 1) / 3 for tiny sets
    iterations: int = 500
    learning_rate: float = 100.0
    early_exaggeration: float = 12.0
    exaggeration_iterations: int = 100
    seed: int = 0


def _conditional_probabilities(sq_dist: np.ndarray, perplexity: float) -> np.ndarray:
    """Row-wise Gaussian affinities whose entropy matches log(perplexity) (binary search on precision)."""
    n = sq_dist.shape[0]
    target = np.log(perplexity)
    p = np.zeros((n, n))
    for i in range(n):
        d = np.delete(sq_dist[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(64):
            w = np.exp(-(d - d.min()) * beta)
            row = w / w.sum()
            entropy = -np.sum(row * np.log(np.maximum(row, 1e-300)))
            if abs(entropy - target) < 1e-5:
                break
            if entropy > target:  # too flat: sharpen
                lo = beta
                beta = beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi = beta
                beta = (beta + lo) / 2
        p[i, np.arange(n) != i] = row
    return p


def tsne(points: np.ndarray, config: TsneConfig | None = None) -> np.ndarray:
    """(N, D) points -> (N, 2) embedding. Cosine geometry: rows are L2-normalised first, as identity
    embeddings are compared by angle."""
    cfg = config or TsneConfig()
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise InputError("t-SNE needs an (N, D) array with N >= 4")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = x.shape[0]
    sq = np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0)
    perplexity = min(cfg.perplexity, max((n - 1) / 3.0, 1.5))
    p = _conditional_probabilities(sq, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)

    rng = np.random.default_rng(cfg.seed)
    y = rng.normal(0.0, 1e-4, size=(n, 2))
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    for it in range(cfg.iterations):
        exaggeration = cfg.early_exaggeration if it < cfg.exaggeration_iterations else 1.0
        momentum = 0.5 if it < 250 else 0.8
        diff = y[:, None, :] - y[None, :, :]
        inv = 1.0 / (1.0 + (diff**2).sum(-1))  # Student-t kernel
        np.fill_diagonal(inv, 0.0)
        q = np.maximum(inv / inv.sum(), 1e-12)
        grad = 4.0 * (((exaggeration * p - q) * inv)[:, :, None] * diff).sum(1)
        # Jacobs' adaptive gains, as in the reference implementation.
        same_sign = np.sign(grad) == np.sign(velocity)
        gains = np.clip(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01, None)
        velocity = momentum * velocity - cfg.learning_rate * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y
