"""Pixel-level image comparison: the one mae / psnr / ssim that evaluation and training reports share."""

from __future__ import annotations

import math

import numpy as np

from faceveil.errors import InputError


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(a), np.asarray(b)
    if p.shape != q.shape:
        raise InputError(f"images differ in shape: {p.shape} vs {q.shape}")
    return p.astype(np.float64), q.astype(np.float64)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, in the images' own units (0-255 for uint8)."""
    p, q = _pair(a, b)
    return float(np.abs(p - q).mean())


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; +inf for identical images."""
    p, q = _pair(a, b)
    mse = float(np.mean((p - q) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, *, gaussian: bool = True) -> float:
    """Structural similarity (Wang et al. 2004; Gaussian window sigma 1.5) of (H, W) or (H, W, C) images,
    channels averaged. ``gaussian=False``: scikit-image's default 7x7 uniform window with sample
    covariance (what the PRO-Face S training reports and model card were measured with)."""
    from skimage.metrics import structural_similarity

    p, q = _pair(a, b)
    if min(p.shape[:2]) < 7:
        raise InputError("SSIM needs images of at least 7x7 pixels")
    channel_axis = -1 if p.ndim == 3 else None
    if not gaussian:
        return float(structural_similarity(p, q, data_range=data_range, channel_axis=channel_axis))
    return float(
        structural_similarity(p, q, data_range=data_range, channel_axis=channel_axis, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    )
