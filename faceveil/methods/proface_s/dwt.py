"""Orthonormal 2x2 Haar wavelet transform and its exact inverse (HiNet / PRO-Face S convention).

Channel layout of the transform: sub-band major, ``[LL(C), HL(C), LH(C), HH(C)]`` so an RGB image
becomes 12 channels at half resolution. Both directions scale by 1/2, which makes the pair
orthonormal: ``haar_iwt(haar_dwt(x)) == x`` up to float rounding, and energy is preserved.
"""

from __future__ import annotations

import torch


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) with even H, W -> (B, 4C, H/2, W/2), sub-bands ordered LL, HL, LH, HH."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"Haar DWT needs even height and width, got {tuple(x.shape[-2:])}")
    even_rows = x[:, :, 0::2, :] / 2
    odd_rows = x[:, :, 1::2, :] / 2
    top_left = even_rows[:, :, :, 0::2]
    bottom_left = odd_rows[:, :, :, 0::2]
    top_right = even_rows[:, :, :, 1::2]
    bottom_right = odd_rows[:, :, :, 1::2]
    ll = top_left + bottom_left + top_right + bottom_right
    hl = -top_left - bottom_left + top_right + bottom_right
    lh = -top_left + bottom_left - top_right + bottom_right
    hh = top_left - bottom_left - top_right + bottom_right
    return torch.cat((ll, hl, lh, hh), dim=1)


def haar_iwt(y: torch.Tensor) -> torch.Tensor:
    """(B, 4C, h, w) -> (B, C, 2h, 2w); exact inverse of :func:`haar_dwt`."""
    if y.shape[1] % 4:
        raise ValueError(f"inverse Haar DWT needs a multiple of 4 channels, got {y.shape[1]}")
    c = y.shape[1] // 4
    ll, hl, lh, hh = (y[:, i * c : (i + 1) * c] / 2 for i in range(4))
    out = y.new_empty(y.shape[0], c, y.shape[2] * 2, y.shape[3] * 2)
    out[:, :, 0::2, 0::2] = ll - hl - lh + hh
    out[:, :, 1::2, 0::2] = ll - hl + lh - hh
    out[:, :, 0::2, 1::2] = ll + hl - lh - hh
    out[:, :, 1::2, 1::2] = ll + hl + lh + hh
    return out
