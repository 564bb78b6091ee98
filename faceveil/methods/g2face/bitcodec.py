"""IEEE-754 float32 <-> bits, the paper's message format (512 floats -> 16384 bits).

Bit order per value is the IEEE layout read most-significant first: sign, 8 exponent bits,
23 mantissa bits, values in sequence; (B, 512) floats -> (B, 16384) bits is the published
(B, 512, 32) layout flattened. Bits are float tensors in {0, 1}. This is exact (we reinterpret the
bit pattern rather than compute it with logarithms), and equal to the published arithmetic
converter wherever that one is defined (normal floats with 2^-126 <= |v| < 256).
"""

from __future__ import annotations

import torch

BITS_PER_FLOAT = 32
DECODE_LIMIT = 50.0  # published guard: decoded |v| > 50 (a corrupted exponent) is replaced by 0

_SHIFTS = torch.arange(BITS_PER_FLOAT - 1, -1, -1, dtype=torch.int64)  # MSB first


def float_to_bits(values: torch.Tensor) -> torch.Tensor:
    """(..., N) float -> (..., N * 32) float bits in {0, 1} (values are first cast to float32)."""
    as_int = values.detach().to(torch.float32).contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    bits = (as_int.unsqueeze(-1) >> _SHIFTS.to(values.device)) & 1
    return bits.flatten(-2).to(torch.float32)


def bits_to_float(bits: torch.Tensor, guard: bool = True) -> torch.Tensor:
    """(..., N * 32) bits (any values; > 0.5 counts as 1) -> (..., N) float32.

    With ``guard``, |v| > 50 and non-finite values (NaN/inf from corrupted exponents) become 0.
    """
    if bits.shape[-1] % BITS_PER_FLOAT:
        raise ValueError(f"bit count {bits.shape[-1]} is not a multiple of {BITS_PER_FLOAT}")
    hard = (bits > 0.5).to(torch.int64).unflatten(-1, (-1, BITS_PER_FLOAT))
    as_int = (hard << _SHIFTS.to(bits.device)).sum(-1)
    as_int = torch.where(as_int >= 2**31, as_int - 2**32, as_int)  # two's complement into int32 range
    values = as_int.to(torch.int32).view(torch.float32)
    if guard:
        values = torch.where(torch.isfinite(values) & (values.abs() <= DECODE_LIMIT), values, torch.zeros_like(values))
    return values


def logits_to_bits(logits: torch.Tensor) -> torch.Tensor:
    """Extractor logits -> hard bits in {0, 1} (sigmoid(logit) >= 0.5 <=> logit >= 0)."""
    return (logits >= 0).to(torch.float32)
