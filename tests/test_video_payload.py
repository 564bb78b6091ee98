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
