"""Payload bit error rate in the evaluation runner: a reduced-width G2Face (untrained, so its extractor
reads coin flips) through MethodSource and evaluate(), the same method with its read step replaced by
one returning the hidden bits (exactly 0, decodes) or a known number of flipped bits, and a method
without hidden bits (no payload keys)."""

import numpy as np
import pytest
import torch

from faceveil.eval.payload_channel import CHANNELS, HiddenBitsMethod
from faceveil.eval.report import render_html
from faceveil.eval.runner import EvalConfig, evaluate
from faceveil.testing import load_sample
from faceveil.eval.sources import MethodSource
from tests.methods.g2face.small import small_engine

torch.set_num_threads(1)

READINGS = ("crop", "clean", "png", "jpeg90")  # the method's own crop, then the photo through each channel
BER_KEYS = [f"payload.bit_error_rate.{c}" for c in READINGS]
DECODED_KEYS = [f"payload.decoded_rate.{c}" for c in READINGS]
LIGHT = EvalConfig(recognizers=("dlib",), detectors=("haar",), landmarks68=False, facemesh=False, perceptual=False)


@pytest.fixture(scope="module")
def astronaut():
    return load_sample("astronaut")


def g2face_source(payload_mode: str = "secure") -> MethodSource:
    return MethodSource("g2face", {"engine": small_engine(), "payload_mode": payload_mode}, seed=3)


def read_back_hidden_bits(method, monkeypatch, flip: int = 0) -> None:
    """Make the extractor return, as logits, the message the last anonymization hid with its first
    ``flip`` bits inverted."""
    hidden = {}
    anonymize = method.anonymize_with_hidden_bits

    def remember(crops, contexts):
        out, bits = anonymize(crops, contexts)
        hidden["bits"] = torch.from_numpy(bits).float()
        return out, bits

    def read_bits(images):
        bits = hidden["bits"][: images.shape[0]].clone()
        bits[:, :flip] = 1 - bits[:, :flip]
        return 8 * (2 * bits - 1)

    monkeypatch.setattr(method, "anonymize_with_hidden_bits", remember)
    monkeypatch.setattr(method.engine, "read_bits", read_bits)


def test_channels_png_is_lossless_and_jpeg_is_not(astronaut):
    assert np.array_equal(CHANNELS["png"](astronaut), astronaut)
    jpeg = CHANNELS["jpeg90"](astronaut)
    assert jpeg.shape == astronaut.shape and not np.array_equal(jpeg, astronaut)


def test_untrained_extractor_reads_coin_flips_and_is_reported(astronaut):
    source = g2face_source()
    assert isinstance(source.method, HiddenBitsMethod)
    item = source.item("astronaut", astronaut)
    assert item.faces and set(item.payload) == {0}
    face = item.payload[0]
    assert set(face) == set(BER_KEYS + DECODED_KEYS)
    for key in BER_KEYS:
        assert 0.0 <= face[key] <= 1.0
        assert face[key] == pytest.approx(0.5, abs=0.05)  # 16384 random bits: std of the rate ~0.004
    assert face["payload.bit_error_rate.png"] == face["payload.bit_error_rate.clean"]
    assert all(face[k] == 0.0 for k in DECODED_KEYS)  # half the bits wrong: Reed-Solomon cannot repair it
    assert item.recovered is None and item.wrong_key is None  # the method refuses; the run goes on

    result = evaluate([item], LIGHT)
    for key in BER_KEYS + DECODED_KEYS:
        summary = result.metrics[key]
        assert summary.n == 1 and summary.mean == pytest.approx(face[key]) and summary.std == 0.0
        assert key in result.to_dict()["metrics"]
    html = render_html(result, "payload", {}, [], [])
    assert all(key in html for key in BER_KEYS + DECODED_KEYS)


def test_read_step_returning_the_hidden_bits_gives_zero_and_decodes(astronaut, monkeypatch):
    source = g2face_source()
    read_back_hidden_bits(source.method, monkeypatch)
    item = source.item("astronaut", astronaut)
    face = item.payload[0]
    assert all(face[k] == 0.0 for k in BER_KEYS)
    assert all(face[k] == 1.0 for k in DECODED_KEYS)
    assert item.recovered is not None  # an intact payload opens: the key holder's recovery runs
    assert item.wrong_key is None  # a wrong key does not open it


def test_flipped_bits_are_counted_exactly(astronaut, monkeypatch):
    source = g2face_source("paper")
    flip = 100
    read_back_hidden_bits(source.method, monkeypatch, flip=flip)
    face = source.item("astronaut", astronaut).payload[0]
    n_bits = source.method.engine.n_bits
    assert all(face[k] == flip / n_bits for k in BER_KEYS)
    assert not any(k in face for k in DECODED_KEYS)  # paper mode has no error correction to report on


def test_methods_without_hidden_bits_have_no_payload_keys(astronaut):
    source = MethodSource("mosaic", seed=3)
    assert not isinstance(source.method, HiddenBitsMethod)
    item = source.item("astronaut", astronaut)
    assert item.faces and item.payload == {}
    result = evaluate([item], LIGHT)
    assert result.metrics and not any(k.startswith("payload.") for k in result.metrics)
