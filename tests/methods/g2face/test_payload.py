"""Secure payload: confidentiality, error correction up to capacity, burst spreading; paper mode."""

import numpy as np
import pytest
import torch

from faceveil.errors import InputError, PayloadCorruptError, WrongKeyError
from faceveil.methods.g2face.payload import PaperPayload, SecureLayout, SecurePayload, make_payload_codec

KEY = bytes(range(32))


def bits_to_logits(bits: torch.Tensor, margin: float = 4.0) -> torch.Tensor:
    return (bits * 2 - 1) * margin


@pytest.fixture(scope="module")
def codec() -> SecurePayload:
    return SecurePayload()


@pytest.fixture(scope="module")
def embedding() -> torch.Tensor:
    return torch.randn(512, generator=torch.Generator().manual_seed(1)) * 3


def test_layout_fills_the_16384_bit_channel():
    lay = SecureLayout()
    assert lay.sealed_bytes == 1052
    assert lay.codewords * lay.data_per_codeword >= lay.sealed_bytes
    assert lay.codewords * lay.codeword_bytes <= lay.channel_bytes == 2048
    assert lay.correctable_bytes_per_codeword == 61


def test_round_trip_recovers_the_fp16_embedding(codec, embedding):
    bits = codec.encode(embedding, KEY)
    assert bits.shape == (16384,)
    decoded = codec.decode(bits_to_logits(bits), KEY)
    torch.testing.assert_close(decoded, embedding.half().float())


def test_hidden_bits_reveal_nothing_without_the_key(codec, embedding):
    bits = codec.encode(embedding, KEY)
    # the plaintext float bits of the paper mode do not appear, and the channel looks random
    assert not torch.equal(bits, PaperPayload().encode(embedding))
    assert 0.45 < bits[: 2040 * 8].mean().item() < 0.55
    # two encodings of the same embedding differ (fresh nonce), so faces cannot be linked
    assert (codec.encode(embedding, KEY) != bits).float().mean() > 0.3
    with pytest.raises(WrongKeyError):
        codec.decode(bits_to_logits(bits), bytes(32))


def test_random_bit_errors_within_capacity_are_corrected(codec, embedding):
    bits = codec.encode(embedding, KEY)
    rng = np.random.default_rng(0)
    flip = torch.from_numpy(rng.choice(16384, size=300, replace=False))  # ~1.8 % BER, ~37 per codeword
    noisy = bits.clone()
    noisy[flip] = 1 - noisy[flip]
    torch.testing.assert_close(codec.decode(bits_to_logits(noisy), KEY), embedding.half().float())


def test_burst_is_spread_over_codewords(codec, embedding):
    bits = codec.encode(embedding, KEY)
    noisy = bits.clone()
    noisy[4000:7000] = 1 - noisy[4000:7000]  # 375 consecutive bytes: 47 per codeword after interleaving
    torch.testing.assert_close(codec.decode(bits_to_logits(noisy), KEY), embedding.half().float())


def test_low_confidence_bits_are_used_as_erasures_beyond_error_capacity(codec, embedding):
    bits = codec.encode(embedding, KEY)
    logits = bits_to_logits(bits)
    noisy = logits.clone()
    noisy[:6400:8] *= -0.05  # 800 wrong bits (100 per codeword > 61) but flagged by tiny |logit|
    torch.testing.assert_close(codec.decode(noisy, KEY), embedding.half().float())


def test_too_many_confident_errors_is_a_corrupt_payload(codec, embedding):
    logits = bits_to_logits(codec.encode(embedding, KEY))
    rng = np.random.default_rng(1)
    flip = torch.from_numpy(rng.choice(16384, size=3000, replace=False))
    logits[flip] = -logits[flip]
    with pytest.raises((PayloadCorruptError, WrongKeyError)):
        codec.decode(logits, KEY)


def test_paper_mode_is_plaintext_float_bits(embedding):
    paper = make_payload_codec("paper")
    bits = paper.encode(embedding, None)
    assert torch.equal(paper.decode(bits_to_logits(bits), None), embedding)


def test_unknown_mode_and_bad_inputs_are_input_errors(codec):
    with pytest.raises(InputError):
        make_payload_codec("plain")
    with pytest.raises(InputError):
        codec.encode(torch.zeros(100), KEY)
    with pytest.raises(InputError):
        codec.encode(torch.zeros(512), None)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_constant_bit_map_is_not_a_valid_payload(codec, sign):
    # without whitening, all-zero bits would be the valid all-zero Reed-Solomon codeword
    with pytest.raises(PayloadCorruptError):
        codec.decode(torch.full((16384,), sign), KEY)


def test_layout_for_the_published_channel_is_the_published_layout():
    assert SecureLayout.for_channel(16384, 512) == SecureLayout()


def test_smaller_identity_gets_more_parity_and_survives_more_errors():
    """A 256-d identity (offline MobileFace prior) in the 16384-bit channel: 8 x RS(255, 68)."""
    codec = make_payload_codec("secure", 16384, 256)
    assert codec.layout.data_per_codeword == 68 and codec.layout.correctable_bytes_per_codeword == 93
    identity = torch.randn(256, generator=torch.Generator().manual_seed(2))
    logits = bits_to_logits(codec.encode(identity, KEY))
    # 85 wrong bytes in every codeword: beyond the published 61, within this layout's 93
    stacked = np.arange(8 * 255).reshape(255, 8)  # channel byte j*8 + c belongs to codeword c
    for byte in stacked[:85].reshape(-1):
        logits[byte * 8] = -logits[byte * 8]
    torch.testing.assert_close(codec.decode(logits, KEY), identity.half().float())


def test_paper_mode_pads_a_smaller_identity_and_payloads_must_fit_the_channel():
    paper = make_payload_codec("paper", 16384, 256)
    identity = torch.randn(256, generator=torch.Generator().manual_seed(3))
    bits = paper.encode(identity, None)
    assert bits.shape == (16384,) and not bits[256 * 32 :].any()
    assert torch.equal(paper.decode(bits_to_logits(bits), None), identity)
    for mode, channel in (("paper", 4096), ("secure", 1024)):
        with pytest.raises(InputError):
            make_payload_codec(mode, channel, 256)


def test_small_channel_carries_8_bit_values():
    """128 px: 4096 bits hold a 256-d identity as int8 x float16 scale (float16 would leave no parity)."""
    codec = make_payload_codec("secure", 4096, 256)
    assert codec.layout.value_bytes == 1 and codec.layout.codewords == 2 and codec.layout.parity_per_codeword >= 40
    identity = torch.randn(256, generator=torch.Generator().manual_seed(4))
    bits = codec.encode(identity, KEY)
    assert bits.shape == (4096,)
    decoded = codec.decode(bits_to_logits(bits), KEY)
    step = identity.abs().max() / 127
    assert (decoded - identity).abs().max() <= step * 0.51  # half a quantization step (+ fp16 scale rounding)
    assert torch.nn.functional.cosine_similarity(decoded, identity, dim=0) > 0.999
    with pytest.raises(WrongKeyError):
        codec.decode(bits_to_logits(bits), bytes(32))
