"""Source coding of the video payload (version 3): the input's compressed packets plus a digest per
region; exact recovery, the automatic choice, spans, rotation, B-frames and the typed errors."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from faceveil.cli import main
from faceveil.errors import PayloadCorruptError, SourceMismatchError, TamperedPayloadError, UsageError
from faceveil.faces.types import Face
from faceveil.io.carriers import sidecar_path
from faceveil.io.video import EncodeOptions, PacketDecoder, SourcePacket, TimeSpan, iter_frames
from faceveil.pipeline.video import VideoOptions, anonymize_video, recover_video
from faceveil.pipeline.video_check import inspect_video_file
from faceveil.pipeline.video_payload import FrameRecord, TrackRegion, read_video_header
from faceveil.pipeline.video_source import iter_items, pack_packet, pack_record, region_digest
from faceveil.testing import write_synthetic_clip

LOSSLESS_SOURCE = VideoOptions(encode=EncodeOptions(lossless=True), payload="sidecar", payload_coding="source")


class FixedBox:
    """A detector that reports the same box in every frame (controls the region size exactly)."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = box

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return [Face(self.box, score=0.9)]


@pytest.fixture(scope="module")
def bclip(tmp_path_factory):
    """320x240, 1.2 s, H.264 with B-frames (preset fast) and AAC audio, mild sensor noise."""
    return write_synthetic_clip(tmp_path_factory.mktemp("bclip") / "b.mp4", seconds=1.2, noise=2.0, preset="fast")


def frames_of(path: Path, span: TimeSpan = TimeSpan()) -> list[np.ndarray]:
    return [f.rgb for f in iter_frames(path, span)]


def payload_header(path: Path):
    with open(sidecar_path(path), "rb") as f:
        version = struct.unpack(">H", f.read(10)[8:10])[0]
        f.seek(0)
        info, _ = read_video_header(f)
    return version, info.extra["video"]


def test_clip_really_reorders_frames(bclip):
    with av.open(str(bclip.path)) as c:
        pts = [p.pts for p in c.demux(video=0) if p.size]
    assert pts != sorted(pts)  # B-frames: decode order differs from presentation order


def test_source_coding_recovers_every_frame_bit_exactly_with_b_frames(bclip, detector, identity, tmp_path):
    out = tmp_path / "anon.mkv"
    report = anonymize_video(bclip.path, out, detector=detector, recipients=[identity.recipient], options=LOSSLESS_SOURCE)
    assert report.payload_coding == "source" and report.frames == bclip.frames
    version, video = payload_header(out)
    assert version == 3 and video["region_coding"] == 3
    assert video["source"]["decoder"]["codec"] == "h264" and video["source"]["packets"] >= bclip.frames
    assert inspect_video_file(out)["payload_coding"] == "source"
    originals = frames_of(bclip.path)
    anonymized = frames_of(out)
    assert any(not np.array_equal(a, b) for a, b in zip(originals, anonymized))  # faces really were replaced
    back = tmp_path / "back.mkv"
    recover_video(out, back, [identity])
    recovered = frames_of(back)
    assert len(recovered) == len(originals)
    for i, (a, b) in enumerate(zip(originals, recovered)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")


def test_span_starting_inside_a_gop_recovers_exactly(bclip, detector, identity, tmp_path):
    span = TimeSpan(0.45, 0.9)  # one GOP (x264 keyint 250): starts 11 frames after the only key frame
    out = tmp_path / "span.mkv"
    report = anonymize_video(bclip.path, out, detector=detector, recipients=[identity.recipient],
                             options=VideoOptions(encode=EncodeOptions(lossless=True), payload="sidecar", span=span,
                                                  payload_coding="source"))
    originals = frames_of(bclip.path, span)
    assert report.frames == len(originals) == 11
    _, video = payload_header(out)
    assert video["source"]["first_pts"] > 0
    assert video["source"]["packets"] > len(originals)  # from the key frame at 0 s: decoding needs them
    back = tmp_path / "span.back.mkv"
    recover_video(out, back, [identity])
    recovered = frames_of(back)
    assert len(recovered) == len(originals)
    for a, b in zip(originals, recovered):
        np.testing.assert_array_equal(a, b)


def test_rotated_video_recovers_exactly_from_its_packets(detector, identity, tmp_path):
    clip = write_synthetic_clip(tmp_path / "rot.mp4", size=(240, 320), seconds=0.5, rotation=90, noise=2.0,
                                face_height=120)
    out = tmp_path / "rot.mkv"
    report = anonymize_video(clip.path, out, detector=detector, recipients=[identity.recipient],
                             options=VideoOptions(encode=EncodeOptions(lossless=True), payload_coding="source"))
    assert report.payload_coding == "source" and report.tracking.tracks >= 1
    assert report.payload == ["embedded"] and not sidecar_path(out).exists()  # an MKV attachment
    info = inspect_video_file(out)
    assert info["payload_coding"] == "source" and info["container"]["extra"]["video"]["source"]["rotation"] == 90
    back = tmp_path / "rot.back.mkv"
    recover_video(out, back, [identity])
    for a, b in zip(frames_of(clip.path), frames_of(back), strict=True):
        np.testing.assert_array_equal(a, b)


def test_auto_prefers_the_source_packets_when_they_are_smaller(bclip, detector, identity, tmp_path):
    runs = {}
    for coding in ("auto", "regions"):
        out = tmp_path / f"{coding}.mp4"
        runs[coding] = anonymize_video(bclip.path, out, detector=detector, recipients=[identity.recipient],
                                       options=VideoOptions(payload="sidecar", payload_coding=coding))
    assert runs["auto"].payload_coding == "source" and runs["regions"].payload_coding == "regions"
    assert runs["auto"].payload_bytes < runs["regions"].payload_bytes
    assert any("source coding" in n for n in runs["auto"].notes)
    # lossy output: the faces come back exactly, bound by timestamps and signatures as for region coding
    back = tmp_path / "auto.back.mkv"
    recover_video(tmp_path / "auto.mp4", back, [identity], encode=EncodeOptions(lossless=True))
    originals, recovered = frames_of(bclip.path), frames_of(back)
    assert len(originals) == len(recovered)
    for original, restored, (x0, y0, x1, y1) in zip(originals, recovered, bclip.face_boxes):
        w, h = x1 - x0, y1 - y0  # the core of the pasted face, where any anonymization acts
        core = slice(y0 + int(0.25 * h), y0 + int(0.55 * h)), slice(x0 + int(0.35 * w), x0 + int(0.75 * w))
        np.testing.assert_array_equal(original[core], restored[core])


def test_auto_keeps_region_coding_for_a_tiny_face_in_a_high_bitrate_video(identity, tmp_path):
    clip = write_synthetic_clip(tmp_path / "hq.mp4", size=(480, 360), seconds=0.6, noise=6.0, crf=4, audio_codec=None)
    out = tmp_path / "hq.mkv"
    report = anonymize_video(clip.path, out, detector=FixedBox((100, 100, 116, 116)), recipients=[identity.recipient],
                             options=VideoOptions(encode=EncodeOptions(lossless=True), payload="sidecar"))
    assert report.payload_coding == "regions"
    assert any("region coding" in n and "smaller" in n for n in report.notes)
    version, video = payload_header(out)
    assert version == 1 and "source" not in video
    back = tmp_path / "hq.back.mkv"
    recover_video(out, back, [identity])
    for a, b in zip(frames_of(clip.path), frames_of(back), strict=True):
        np.testing.assert_array_equal(a, b)


def off_by_one(monkeypatch):
    """Make the packet decoder convert YUV to RGB one level brighter, as another FFmpeg build might."""
    decode = PacketDecoder.decode

    def brighter(self, packet):
        return [(pts, np.clip(rgb.astype(np.int16) + 1, 0, 255).astype(np.uint8)) for pts, rgb in decode(self, packet)]

    monkeypatch.setattr(PacketDecoder, "decode", brighter)


def test_packets_that_do_not_reproduce_the_frames_are_never_chosen(bclip, identity, tmp_path, monkeypatch):
    off_by_one(monkeypatch)
    box = FixedBox((100, 60, 180, 160))
    report = anonymize_video(bclip.path, tmp_path / "a.mp4", detector=box, recipients=[identity.recipient],
                             options=VideoOptions(payload="sidecar"))
    assert report.payload_coding == "regions"
    assert any("do not reproduce the frames exactly" in n for n in report.notes)
    with pytest.raises(UsageError, match="--payload-coding source is not possible"):
        anonymize_video(bclip.path, tmp_path / "b.mp4", detector=box, recipients=[identity.recipient],
                        options=VideoOptions(payload="sidecar", payload_coding="source"))
    assert not (tmp_path / "b.mp4").exists() and not sidecar_path(tmp_path / "b.mp4").exists()


def test_decoder_difference_at_recovery_is_exit_14_and_writes_nothing(bclip, tmp_path, monkeypatch, capsys):
    key = tmp_path / "k"
    assert main(["keygen", str(key)]) == 0
    out, back = tmp_path / "anon.mp4", tmp_path / "back.mkv"
    assert main(["anonymize", str(bclip.path), "-o", str(out), "--recipient", f"{key}.pub", "--payload-coding", "source",
                 "-q"]) == 0
    capsys.readouterr()
    with monkeypatch.context() as m:
        off_by_one(m)
        assert main(["recover", str(out), "-o", str(back), "--key", str(key), "-q"]) == SourceMismatchError.exit_code == 14
    err = capsys.readouterr().err
    assert "converts the video's YUV to RGB differently" in err and "--payload-coding regions" in err
    assert "Traceback" not in err and not back.exists()
    assert main(["recover", str(out), "-o", str(back), "--key", str(key), "-q"]) == 0
    assert main(["anonymize", str(bclip.path), "-o", str(tmp_path / "x.mp4"), "--recipient", f"{key}.pub",
                 "--payload-coding", "pixels", "-q"]) == 2


def test_tampered_source_chunk_is_detected_before_any_output(bclip, detector, identity, tmp_path):
    out = tmp_path / "anon.mp4"
    anonymize_video(bclip.path, out, detector=detector, recipients=[identity.recipient],
                    options=VideoOptions(payload="sidecar", payload_coding="source"))
    side = sidecar_path(out)
    original = side.read_bytes()
    blob = bytearray(original)
    blob[-100] ^= 1  # inside the last chunk's ciphertext (packets / digests)
    side.write_bytes(bytes(blob))
    with pytest.raises(TamperedPayloadError):
        recover_video(out, tmp_path / "back.mkv", [identity])
    assert not (tmp_path / "back.mkv").exists()
    side.write_bytes(original[:8] + struct.pack(">H", 1) + original[10:])  # claims region coding 1
    with pytest.raises(PayloadCorruptError, match="does not match"):
        recover_video(out, tmp_path / "back.mkv", [identity])
    assert not (tmp_path / "back.mkv").exists()


def test_items_round_trip_and_malformed_items_are_corrupt():
    pixels = np.arange(6 * 5 * 3, dtype=np.uint8).reshape(6, 5, 3)
    record = FrameRecord(3, [TrackRegion(7, 2, 4, pixels)], digest=b"d" * 32, time_us=120000, pts=4096)
    packets = [SourcePacket(b"\x00\x01packet", 512, None, True), SourcePacket(b"xyz", None, 7, False)]
    plaintext = pack_packet(packets[0]) + pack_record(record) + pack_packet(packets[1])
    items = list(iter_items(plaintext, 20, 20))
    assert items[0] == packets[0] and items[2] == packets[1]
    expected = items[1]
    assert expected.pts == 4096 and expected.record.index == 3 and expected.record.digest == b"d" * 32
    assert expected.regions == [(7, 2, 4, 5, 6, region_digest(pixels))]
    assert region_digest(pixels) != region_digest(pixels.reshape(5, 6, 3))  # the shape is part of the digest
    for bad in (plaintext[:-1], plaintext + b"\x09", b"\x01" + plaintext[1:]):
        with pytest.raises(PayloadCorruptError):
            list(iter_items(bad, 20, 20))
    with pytest.raises(PayloadCorruptError):  # a region outside the frame
        list(iter_items(pack_record(record), 6, 6))


def test_a_source_payload_binds_to_its_video_like_region_payloads(bclip, detector, identity, tmp_path):
    from faceveil.errors import TamperedPixelsError

    other = write_synthetic_clip(tmp_path / "other.mp4", seconds=1.2, noise=2.0, preset="fast", moving=False)
    outs = []
    for clip in (bclip, other):
        out = tmp_path / f"{clip.path.stem}.anon.mp4"
        report = anonymize_video(clip.path, out, detector=detector, recipients=[identity.recipient],
                                 options=VideoOptions(payload="sidecar", payload_coding="source"))
        assert report.payload_coding == "source"
        outs.append(out)
    with pytest.raises(TamperedPixelsError):  # B's payload on A: stream id, then signatures refuse it
        recover_video(outs[0], tmp_path / "x.mkv", [identity], payload_file=sidecar_path(outs[1]))
    assert not (tmp_path / "x.mkv").exists()


def test_variable_frame_rate_with_b_frames_pairs_frames_by_timestamp(identity, tmp_path):
    from fractions import Fraction

    from faceveil.testing import synthetic_frames

    frames, _ = synthetic_frames((320, 240), 20, 110, noise=2.0)
    path = tmp_path / "vfr.mkv"
    stamps = np.cumsum([0] + [1 if i % 3 else 4 for i in range(1, 20)])  # gaps of 1 and 4 ticks
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "fast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 50)
        for rgb, pts in zip(frames, stamps):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 50)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    decoded = list(iter_frames(path))
    gaps = {b.pts - a.pts for a, b in zip(decoded, decoded[1:])}
    assert len(decoded) == 20 and len(gaps) == 2  # two different frame spacings survive the container
    anon = tmp_path / "vfr.anon.mkv"
    report = anonymize_video(path, anon, detector=FixedBox((60, 40, 200, 200)), recipients=[identity.recipient],
                             options=LOSSLESS_SOURCE)
    assert report.payload_coding == "source"
    back = tmp_path / "vfr.back.mkv"
    recover_video(anon, back, [identity])
    recovered = list(iter_frames(back))
    assert [f.pts for f in recovered] == [f.pts for f in decoded]
    for a, b in zip(decoded, recovered):
        np.testing.assert_array_equal(a.rgb, b.rgb)


class FacesFrom(FixedBox):
    """FixedBox, but only on frames ``first``..``last`` (counting calls)."""

    def __init__(self, box, first: int, last: int) -> None:
        super().__init__(box)
        self.first, self.last, self.calls = first, last, 0

    def detect(self, rgb: np.ndarray) -> list[Face]:
        index, self.calls = self.calls, self.calls + 1
        return super().detect(rgb) if self.first <= index <= self.last else []


@pytest.mark.parametrize("open_gop", [False, True])
def test_gops_without_a_face_are_left_out_and_recovery_stays_exact(identity, tmp_path, open_gop):
    from faceveil.testing import synthetic_frames

    frames, _ = synthetic_frames((320, 240), 40, 110, noise=2.0)
    path = tmp_path / "gops.mp4"
    params = "keyint=10:min-keyint=10:scenecut=0" + (":open-gop=1" if open_gop else "")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "fast", "crf": "20", "x264-params": params})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    sizes = {}
    for name, detector in (("all", FixedBox((60, 40, 200, 200))), ("some", FacesFrom((60, 40, 200, 200), 13, 15))):
        anon = tmp_path / f"{name}.mkv"
        report = anonymize_video(path, anon, detector=detector, recipients=[identity.recipient], options=LOSSLESS_SOURCE)
        assert report.payload_coding == "source"
        _, video = payload_header(anon)
        sizes[name] = (report.payload_bytes, video["source"]["skipped_gops"], video["source"]["packets"])
        back = tmp_path / f"{name}.back.mkv"
        recover_video(anon, back, [identity])
        for a, b in zip(iter_frames(path), iter_frames(back), strict=True):
            np.testing.assert_array_equal(a.rgb, b.rgb)
    assert sizes["all"][1] == 0 and sizes["all"][2] == 40
    assert sizes["some"][1] >= 2 and sizes["some"][2] <= 30  # the first and last GOPs hold no face
    assert sizes["some"][0] < 0.8 * sizes["all"][0]
