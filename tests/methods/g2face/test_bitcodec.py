import struct

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from faceveil.methods.g2face.bitcodec import bits_to_float, float_to_bits, logits_to_bits


def test_512_floats_round_trip_exactly_through_16384_bits():
    values = torch.randn(3, 512) * 10
    bits = float_to_bits(values)
    assert bits.shape == (3, 16384) and set(bits.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(bits_to_float(bits), values)


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-50, max_value=50))
def test_bits_are_the_ieee754_big_endian_pattern(value):
    expected = [int(c) for c in "".join(f"{b:08b}" for b in struct.pack(">f", value))]
    bits = float_to_bits(torch.tensor([value], dtype=torch.float32))
    assert bits.int().tolist() == expected
    assert bits_to_float(bits).item() == np.float32(value)


def test_guard_zeroes_large_and_non_finite_values():
    values = torch.tensor([1.5, 51.0, -1e30, float("inf"), float("nan"), -50.0])
    decoded = bits_to_float(float_to_bits(values))
    assert decoded.tolist() == [1.5, 0.0, 0.0, 0.0, 0.0, -50.0]
    raw = bits_to_float(float_to_bits(values), guard=False)
    assert raw[1].item() == 51.0 and torch.isnan(raw[4])


def test_single_flipped_exponent_bit_is_caught_by_the_guard():
    bits = float_to_bits(torch.tensor([0.75]))
    bits[1] = 1 - bits[1]  # top exponent bit: 0.75 -> 0.75 * 2^128 = inf-range
    assert bits_to_float(bits).item() == 0.0


def test_logits_threshold_at_zero():
    assert logits_to_bits(torch.tensor([-3.0, -0.0, 0.2, 5.0])).tolist() == [0.0, 1.0, 1.0, 1.0]
