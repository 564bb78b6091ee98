"""Untrusted payloads never hang (issue 22 #3): forged but authenticated source-coded payloads end in a
documented exit code with one stderr line, and a decode of stored packets that stalls is ended by the
watchdog with a clean error."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from faceveil.errors import PayloadCorruptError
from faceveil.io.video import PacketDecoder
from faceveil.pipeline import video_source
from faceveil.pipeline.video import recover_video

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import fuzz_forged_payloads  # noqa: E402


def test_forged_authenticated_payloads_end_in_a_documented_exit_code():
    results = fuzz_forged_payloads.run(cases=12, seed=22, timeout=60, batch=12, quiet=True)
    assert results["cases"] == 12
    assert results["failures"] == []
    assert sum(results["codes"].values()) == 12


def test_a_stalled_decode_of_stored_packets_is_ended_by_the_watchdog(tmp_path, monkeypatch):
    from faceveil.crypto.keys import X25519Identity

    anon, _side = fuzz_forged_payloads.make_base(tmp_path, seconds=0.3)
    identity = X25519Identity.from_file(tmp_path / "key.pem")
    real = PacketDecoder._decode_now
    release = threading.Event()
    calls = []

    def stall(self, packet):  # the third packet never returns (what the hostile stream did to PyAV)
        calls.append(packet)
        if len(calls) == 3:
            release.wait(30)
        return real(self, packet)

    monkeypatch.setattr(PacketDecoder, "_decode_now", stall)
    monkeypatch.setattr(video_source, "DECODE_TIMEOUT_S", 1.0)
    started = time.monotonic()
    with pytest.raises(PayloadCorruptError, match="did not return within 1 s"):
        recover_video(anon, tmp_path / "back.mp4", [identity])
    assert time.monotonic() - started < 20
    assert not (tmp_path / "back.mp4").exists()
    release.set()


def test_a_stalled_region_decode_is_ended_by_the_watchdog(monkeypatch):
    """Region coding's FFV1 regions come from the payload too: their decode is watched as well."""
    import av

    from faceveil.pipeline import video_payload
    from faceveil.pipeline.video_payload import decode_ffv1, encode_ffv1

    pixels = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    data = encode_ffv1(pixels)
    assert np.array_equal(decode_ffv1(data, 24, 32), pixels)
    release = threading.Event()
    real_packet = av.Packet

    def slow_packet(payload):  # runs inside the watched call, as a stuck decoder would
        release.wait(30)
        return real_packet(payload)

    monkeypatch.setattr(av, "Packet", slow_packet)
    monkeypatch.setattr(video_payload, "REGION_DECODE_TIMEOUT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(PayloadCorruptError, match="did not return within 0.5 s"):
        decode_ffv1(data, 24, 32)
    assert time.monotonic() - started < 10
    release.set()
