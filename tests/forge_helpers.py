"""Forging *authenticated* source-coded video payloads (issue 22): whoever holds a recipient's public key
can seal any plaintext, so recovery must survive hostile packets and records that pass authentication.

``forge(sidecar_bytes, identity, recipient, mutate)`` opens a real payload, hands its chunk plaintexts
(as items: packets and records, pipeline.video_source) and its stream description to ``mutate``, then
re-encrypts and re-seals them with the same content key, so the result authenticates. Used by
tests/test_forged_payloads.py (a few cases) and scripts/fuzz_forged_payloads.py (many)."""

from __future__ import annotations

import copy
import hashlib
import io
import random
import struct

from faceveil.crypto.container import seal
from faceveil.crypto.primitives import open_once
from faceveil.io.video import SourcePacket
from faceveil.pipeline.video_payload import (
    _CHUNK_LEN,
    _PREAMBLE,
    SOURCE_CODING,
    VIDEO_MAGIC,
    ChunkFile,
    _chunk_aad,
    _chunk_key,
    read_video_header,
)
from faceveil.pipeline.video_source import _RECORD, KIND_RECORD, open_payload, pack_packet


def read_items(blob: bytes, identity):
    """(opened payload info, stream dict, content key, list of chunks, each a list of raw items:
    ("packet", SourcePacket) or ("record", pts, body bytes))."""
    opened, _ = open_payload(io.BytesIO(blob), [identity])
    stream = opened.stream
    source = io.BytesIO(blob)
    read_video_header(source)
    sid = bytes.fromhex(stream["stream_id"])
    chunks = []
    for index in range(int(stream["chunks"])):
        (length,) = _CHUNK_LEN.unpack(source.read(_CHUNK_LEN.size))
        plain = open_once(_chunk_key(opened.content_key, sid, index, SOURCE_CODING), source.read(length),
                          _chunk_aad(sid, index, SOURCE_CODING))
        chunks.append(_split(plain))
    return opened, stream, chunks


def _split(plain: bytes) -> list:
    items, pos = [], 0
    packet = struct.Struct(">BqqBI")
    while pos < len(plain):
        if plain[pos] == 0:
            _, pts, dts, flags, n = packet.unpack_from(plain, pos)
            pos += packet.size
            items.append(("packet", SourcePacket(plain[pos:pos + n], None if flags & 2 else pts,
                                                 None if flags & 4 else dts, bool(flags & 1))))
        else:
            _, pts, n = _RECORD.unpack_from(plain, pos)
            pos += _RECORD.size
            items.append(("record", pts, plain[pos:pos + n]))
        pos += n
    return items


def pack_items(items: list) -> bytes:
    out = []
    for item in items:
        if item[0] == "packet":
            out.append(pack_packet(item[1]))
        elif item[0] == "record":
            out.append(_RECORD.pack(KIND_RECORD, item[1], len(item[2])) + item[2])
        else:  # ("raw", bytes)
            out.append(item[1])
    return b"".join(out)


def reseal(opened, stream: dict, chunk_plaintexts: list[bytes], recipient, scratch) -> bytes:
    """A payload holding ``chunk_plaintexts`` under ``stream`` (chunk count and hash updated), sealed for
    ``recipient`` with the original content key: it authenticates."""
    key = opened.content_key
    sid = bytes.fromhex(stream["stream_id"])
    chunks = ChunkFile(scratch, key, sid, SOURCE_CODING)
    for plain in chunk_plaintexts:
        chunks.write(plain)
    chunks.close()
    stream = {**stream, "chunks": chunks.chunks, "chunks_sha256": chunks.hash.hexdigest()}
    info = opened.info
    header = seal(regions=[], method=info.method, method_params=info.method_params, image_shape=tuple(info.image_shape),
                  faces=list(info.faces), pixel_sha256=hashlib.sha256(b"faceveil/video/v1\x00" + sid + chunks.hash.digest()).digest(),
                  recipients=[recipient], content_key=key, extra={**info.extra, "video": stream})
    body = chunks.path.read_bytes()
    chunks.discard()
    return _PREAMBLE.pack(VIDEO_MAGIC, SOURCE_CODING, len(header)) + header + body


# ------------------------------------------------------------------------------------------- mutations


def _packets(chunks):
    return [(c, i) for c, items in enumerate(chunks) for i, it in enumerate(items) if it[0] == "packet"]


def _records(chunks):
    return [(c, i) for c, items in enumerate(chunks) for i, it in enumerate(items) if it[0] == "record"]


def mutate(rng: random.Random, chunks: list, stream: dict) -> str:
    """Apply one random hostile change in place; returns its name."""
    kind = rng.choice(MUTATIONS)
    kind(rng, chunks, stream)
    return kind.__name__


def flip_packet_bytes(rng, chunks, stream):
    c, i = rng.choice(_packets(chunks))
    p = chunks[c][i][1]
    data = bytearray(p.data)
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    chunks[c][i] = ("packet", SourcePacket(bytes(data), p.pts, p.dts, p.keyframe))


def truncate_packet(rng, chunks, stream):
    c, i = rng.choice(_packets(chunks))
    p = chunks[c][i][1]
    chunks[c][i] = ("packet", SourcePacket(p.data[: rng.randrange(len(p.data))] or b"\x00", p.pts, p.dts, p.keyframe))


def garbage_packet(rng, chunks, stream):
    c, i = rng.choice(_packets(chunks))
    p = chunks[c][i][1]
    chunks[c][i] = ("packet", SourcePacket(rng.randbytes(rng.randint(1, 4 * len(p.data) + 8)), p.pts, p.dts, p.keyframe))


def drop_packet(rng, chunks, stream):
    c, i = rng.choice(_packets(chunks))
    del chunks[c][i]


def duplicate_item(rng, chunks, stream):
    c = rng.randrange(len(chunks))
    i = rng.randrange(len(chunks[c]))
    chunks[c].insert(i, chunks[c][i])


def swap_items(rng, chunks, stream):
    c = rng.randrange(len(chunks))
    if len(chunks[c]) > 1:
        i, j = rng.sample(range(len(chunks[c])), 2)
        chunks[c][i], chunks[c][j] = chunks[c][j], chunks[c][i]


def retime_packet(rng, chunks, stream):
    c, i = rng.choice(_packets(chunks))
    p = chunks[c][i][1]
    value = rng.choice([0, -1, 1 << 40, -(1 << 62), (1 << 63) - 1, (p.pts or 0) + rng.randint(-5000, 5000)])
    chunks[c][i] = ("packet", SourcePacket(p.data, value if rng.random() < 0.5 else p.pts,
                                           value if rng.random() < 0.5 else p.dts, rng.random() < 0.5))


def retime_record(rng, chunks, stream):
    c, i = rng.choice(_records(chunks))
    _, pts, body = chunks[c][i]
    chunks[c][i] = ("record", rng.choice([pts + 1, pts - 1, 0, -(1 << 62), (1 << 63) - 1]), body)


def corrupt_record(rng, chunks, stream):
    c, i = rng.choice(_records(chunks))
    _, pts, body = chunks[c][i]
    body = bytearray(body)
    for _ in range(rng.randint(1, 6)):
        body[rng.randrange(len(body))] = rng.randrange(256)
    chunks[c][i] = ("record", pts, bytes(body))


def raw_bytes(rng, chunks, stream):
    c = rng.randrange(len(chunks))
    chunks[c].insert(rng.randrange(len(chunks[c]) + 1), ("raw", rng.randbytes(rng.randint(1, 40))))


def drop_chunk_tail(rng, chunks, stream):
    c = rng.randrange(len(chunks))
    del chunks[c][rng.randrange(len(chunks[c])):]


def other_decoder(rng, chunks, stream):
    decoder = stream["source"]["decoder"]
    choice = rng.randrange(6)
    if choice == 0:
        decoder["codec"] = rng.choice(["hevc", "vp9", "mpeg4", "mjpeg", "png", "ffv1", "av1", "mpeg2video", "aac", "nope"])
    elif choice == 1:
        decoder["extradata"] = rng.randbytes(rng.randint(0, 200)).hex()
    elif choice == 2:
        decoder["width"], decoder["height"] = decoder["height"], decoder["width"]
    elif choice == 3:
        decoder["pix_fmt"] = rng.choice(["gray", "yuv444p", "rgb24", "bogus", None])
    elif choice == 4:
        decoder["time_base"] = rng.choice(["1/1", "1/1000000000", "7/3"])
    else:
        stream["source"]["first_pts"] = rng.choice([-(1 << 62), 1 << 40, 0, 5])


MUTATIONS = [flip_packet_bytes, truncate_packet, garbage_packet, drop_packet, duplicate_item, swap_items, retime_packet,
             retime_record, corrupt_record, raw_bytes, drop_chunk_tail, other_decoder]


def forged_payload(blob: bytes, identity, recipient, rng: random.Random, scratch, changes: int = 1) -> tuple[bytes, list[str]]:
    opened, stream, chunks = read_items(blob, identity)
    stream = copy.deepcopy(stream)
    names = [mutate(rng, chunks, stream) for _ in range(changes)]
    chunks = [c for c in chunks if c] or [[]]
    return reseal(opened, stream, [pack_items(c) for c in chunks], recipient, scratch), names
