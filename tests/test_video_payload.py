"""The video recovery payload: region coding round trips, mode choice, chunk authentication."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from faceveil.crypto.envelope import ContentKey
from faceveil.crypto.keys import X25519Identity
from faceveil.errors import PayloadCorruptError, TamperedPayloadError, WrongKeyError
from faceveil.pipeline.video_payload import (
    MODE_FFV1,
    MODE_TEMPORAL,
    FrameRecord,
    RegionStreamEncoder,
    TrackRegion,
    VideoPayloadWriter,
    decode_chunk,
    open_video_payload,
    read_video_header,
)

SHAPE = (120, 160, 3)


def face_pixels(h: int, w: int, shift: int = 0) -> np.ndarray:
    """A real face patch (astronaut), shifted horizontally by ``shift`` px."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[60 : 60 + h, 180 + shift : 180 + shift + w])


def records(n: int) -> list[FrameRecord]:
    """Two tracks (one moving, one static), an untracked region, digests on even frames."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        regions = [
            TrackRegion(0, 10 + i, 20, face_pixels(40, 30, shift=i)),
            TrackRegion(5, 100, 60, face_pixels(32, 24)),  # static: identical every frame
        ]
        if i == 2:
            regions.append(TrackRegion(-1, 0, 0, rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)))
        out.append(FrameRecord(i, regions, digest=bytes([i]) * 32 if i % 2 == 0 else None))
    return out


def encode_all(recs: list[FrameRecord], chunk_frames: int) -> tuple[list[bytes], RegionStreamEncoder]:
    encoder = RegionStreamEncoder(chunk_frames)
    chunks = [c for r in recs if (c := encoder.add(r)) is not None]
    if (last := encoder.flush()) is not None:
        chunks.append(last)
    return chunks, encoder


def test_records_round_trip_exactly_across_chunks():
    recs = records(7)
    chunks, encoder = encode_all(recs, chunk_frames=3)
    assert len(chunks) == 3
    decoded = [r for c in chunks for r in decode_chunk(c, SHAPE)]
    assert [r.index for r in decoded] == list(range(7))
    for a, b in zip(recs, decoded):
        assert a.digest == b.digest
        assert [(r.track_id, r.x, r.y) for r in a.regions] == [(r.track_id, r.x, r.y) for r in b.regions]
        for ra, rb in zip(a.regions, b.regions):
            np.testing.assert_array_equal(ra.pixels, rb.pixels)
    assert encoder.raw_bytes == sum(r.pixels.nbytes for rec in recs for r in rec.regions)


def test_static_regions_use_the_temporal_mode_and_cost_almost_nothing():
    chunks, encoder = encode_all(records(6), chunk_frames=6)
    # per chunk, the first region of each track is intra (FFV1); the static track repeats exactly
    assert encoder.mode_counts[MODE_TEMPORAL] >= 5
    assert encoder.mode_counts[MODE_FFV1] >= 2
    static_only = [FrameRecord(i, [TrackRegion(5, 100, 60, face_pixels(32, 24))]) for i in range(6)]
    [one_chunk], _ = encode_all(static_only, chunk_frames=6)
    first_frame_only, _ = encode_all(static_only[:1], chunk_frames=6)
    assert len(one_chunk) < len(first_frame_only[0]) + 5 * 200  # five more frames for < 200 B each


def test_region_outside_the_frame_is_corrupt():
    [chunk], _ = encode_all([FrameRecord(0, [TrackRegion(0, 150, 100, face_pixels(40, 30))])], chunk_frames=1)
    with pytest.raises(PayloadCorruptError, match="outside"):
        list(decode_chunk(chunk, SHAPE))
    with pytest.raises(PayloadCorruptError):
        list(decode_chunk(chunk[:-10], (200, 200, 3)))  # cut inside the region data


def write_payload(recs: list[FrameRecord], recipient, tmp_path, chunk_frames: int = 2) -> bytes:
    writer = VideoPayloadWriter(tmp_path / "chunks.bin", ContentKey.generate(), chunk_frames)
    for r in recs:
        writer.add(r)
    out = io.BytesIO()
    writer.finish(out, recipients=[recipient], method="solid", method_params={}, frame_shape=SHAPE, tracks=[],
                  extra={"lossless": True})
    assert not (tmp_path / "chunks.bin").exists()
    return out.getvalue()


def split_chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    """(preamble + header, framed chunks) of a payload."""
    header_len = struct.unpack(">Q", blob[10:18])[0]
    head, rest, chunks = blob[: 18 + header_len], blob[18 + header_len :], []
    while rest:
        n = 4 + struct.unpack(">I", rest[:4])[0]
        chunks.append(rest[:n])
        rest = rest[n:]
    return head, chunks


def test_payload_opens_with_the_key_and_returns_every_record(tmp_path):
    identity = X25519Identity.generate()
    recs = records(5)
    blob = write_payload(recs, identity.recipient, tmp_path)
    info, _ = read_video_header(io.BytesIO(blob))  # no key needed
    assert info.extra["video"]["frames"] == 5 and info.extra["video"]["chunks"] == 3
    assert info.extra["video"]["pixel_digests"] is False  # odd frames carry no digest
    _, frames = open_video_payload(io.BytesIO(blob), [identity])
    assert [f.index for f in frames] == list(range(5))
    with pytest.raises(WrongKeyError):
        open_video_payload(io.BytesIO(blob), [X25519Identity.generate()])


@pytest.mark.parametrize("damage", ["swap", "drop_last", "duplicate", "flip"])
def test_reordered_dropped_duplicated_or_flipped_chunks_are_detected(tmp_path, damage):
    identity = X25519Identity.generate()
    head, chunks = split_chunks(write_payload(records(6), identity.recipient, tmp_path))
    if damage == "swap":
        chunks[0], chunks[1] = chunks[1], chunks[0]
    elif damage == "drop_last":
        chunks = chunks[:-1]
    elif damage == "duplicate":
        chunks.append(chunks[-1])
    else:
        chunks[1] = chunks[1][:20] + bytes([chunks[1][20] ^ 1]) + chunks[1][21:]
    _, frames = open_video_payload(io.BytesIO(head + b"".join(chunks)), [identity])
    with pytest.raises((TamperedPayloadError, PayloadCorruptError)):
        list(frames)


def test_not_a_video_payload_is_corrupt():
    with pytest.raises(PayloadCorruptError):
        read_video_header(io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(40)))
    with pytest.raises(PayloadCorruptError):
        read_video_header(io.BytesIO(b"\x89FVV\r\n\x1a\n\x00\x01" + struct.pack(">Q", 1000) + b"short"))


# ------------------------------------------------------------------ region coding 2: per-track video streams

from faceveil.pipeline.video_payload import (  # noqa: E402
    MODE_STREAM,
    VIDEO_VERSION,
    decode_track_stream,
    encode_track_stream,
)


def panning(n: int, step: int = 3) -> list[FrameRecord]:
    """A camera panning over a still face: fixed 96x80 box, content shifting ``step`` px per frame (the
    per-frame coder's displacement candidates cannot follow it; motion compensation can)."""
    return [FrameRecord(i, [TrackRegion(3, 20, 10, face_pixels(80, 96, shift=step * i))]) for i in range(n)]


def test_track_stream_is_exact_on_noise_and_odd_sizes():
    rng = np.random.default_rng(1)
    regions = [TrackRegion(0, 5 + i, 7 - i, rng.integers(0, 256, (17 + i, 23 - i, 3), dtype=np.uint8)) for i in range(4)]
    (x0, y0, w, h), packets = encode_track_stream(regions)
    assert (x0, y0) == (5, 4) and w % 2 == 0 and h % 2 == 0
    canvases = list(decode_track_stream(packets, w, h))
    assert len(canvases) == 4
    for region, canvas in zip(regions, canvases):
        rh, rw = region.pixels.shape[:2]
        np.testing.assert_array_equal(canvas[region.y - y0 : region.y - y0 + rh, region.x - x0 : region.x - x0 + rw], region.pixels)


def test_panning_track_uses_a_stream_and_is_much_smaller_than_per_frame_coding():
    recs = panning(12)
    v1 = RegionStreamEncoder(16, coding=1)
    v2 = RegionStreamEncoder(16, coding=2)
    for r in recs:
        assert v1.add(r) is None and v2.add(r) is None
    chunk1, chunk2 = v1.flush(), v2.flush()
    assert v2.mode_counts[MODE_STREAM] == 12 and v2.mode_counts[MODE_FFV1] == v2.mode_counts[MODE_TEMPORAL] == 0
    assert len(chunk2) < len(chunk1) / 2
    decoded = list(decode_chunk(chunk2, SHAPE, coding=2))
    assert [r.index for r in decoded] == list(range(12))
    for a, b in zip(recs, decoded):
        np.testing.assert_array_equal(a.regions[0].pixels, b.regions[0].pixels)


def test_coding_2_keeps_per_frame_coding_where_it_is_smaller_and_round_trips_mixed_chunks():
    rng = np.random.default_rng(2)
    recs = records(6)
    for i, rec in enumerate(recs):  # a third track of pure noise: no codec predicts it
        rec.regions.append(TrackRegion(9, 60, 70, rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)))
        rec.regions += panning(6)[i].regions
    encoder = RegionStreamEncoder(3, coding=2)
    chunks = [c for r in recs if (c := encoder.add(r)) is not None]
    assert len(chunks) == 2
    assert encoder.mode_counts[MODE_STREAM] == 6  # only the panning track
    assert encoder.mode_counts[MODE_TEMPORAL] >= 4  # the static track kept its near-free temporal coding
    decoded = [r for c in chunks for r in decode_chunk(c, SHAPE, coding=2)]
    for a, b in zip(recs, decoded):
        assert [(r.track_id, r.x, r.y) for r in a.regions] == [(r.track_id, r.x, r.y) for r in b.regions]
        for ra, rb in zip(a.regions, b.regions):
            np.testing.assert_array_equal(ra.pixels, rb.pixels)
    with pytest.raises(PayloadCorruptError):
        list(decode_chunk(chunks[0][:-3], SHAPE, coding=2))
    with pytest.raises(PayloadCorruptError, match="coding"):
        list(decode_chunk(chunks[0], SHAPE, coding=3))


@pytest.mark.parametrize("coding", [1, 2])
def test_new_and_version_1_payloads_both_open(tmp_path, coding):
    identity = X25519Identity.generate()
    recs = panning(5) + records(3)
    writer = VideoPayloadWriter(tmp_path / "chunks.bin", ContentKey.generate(), 4, region_coding=coding)
    for r in recs:
        writer.add(r)
    out = io.BytesIO()
    writer.finish(out, recipients=[identity.recipient], method="solid", method_params={}, frame_shape=SHAPE, tracks=[],
                  extra={})
    blob = out.getvalue()
    assert struct.unpack(">H", blob[8:10])[0] == coding
    info, _ = read_video_header(io.BytesIO(blob))
    assert info.extra["video"]["region_coding"] == coding
    opened, records_iter = open_video_payload(io.BytesIO(blob), [identity])
    assert opened.region_coding == coding
    decoded = list(records_iter)
    for a, b in zip(recs, decoded, strict=True):
        for ra, rb in zip(a.regions, b.regions, strict=True):
            np.testing.assert_array_equal(ra.pixels, rb.pixels)


def test_default_writer_writes_version_1_payloads_that_old_readers_open(tmp_path):
    # region coding 2 never made benchmark payloads smaller (docs/video.md), so it is opt-in
    blob = write_payload(panning(4), X25519Identity.generate().recipient, tmp_path)
    assert VIDEO_VERSION == 3 and struct.unpack(">H", blob[8:10])[0] == 1  # 3: source coding (test_video_source_payload)
    info, _ = read_video_header(io.BytesIO(blob))
    assert info.extra["video"]["region_coding"] == 1
