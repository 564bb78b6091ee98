"""Source coding of the video recovery payload (payload version 3, ``region_coding`` 3).

The original frames the pipeline anonymized were decoded from the input's compressed video packets, so
the payload can hold those packets instead of the pixels: from the key frame :func:`iter_frames`
started decoding at up to the packet after which every processed frame had come out of the decoder,
less the GOPs in which no frame has regions (records without regions need no pixels).
Each frame record keeps its rectangles and a BLAKE2b-256 digest of their exact original RGB pixels
(no pixels). Recovery decodes the packets with the same path as anonymization (PyAV, ``rgb24``, the
same upright rotation), pairs frames with records by timestamp, crops the rectangles and checks every
digest; a difference (another FFmpeg build converting YUV to RGB differently) raises
:class:`~faceveil.errors.SourceMismatchError` and nothing is written.

Chunk plaintext: a sequence of items, each whole inside one chunk (integers big-endian)::

    packet:  u8 0, i64 pts, i64 dts, u8 flags (1 key frame, 2 no pts, 4 no dts), u32 len, data
    record:  u8 1, i64 pts, u32 len, frame record (pipeline.video_payload.pack_frame_header), then per
             region: i32 track_id, u32 x, y, w, h, u8 mode 3, i32 0, i32 0, u32 32, 32-byte digest

Items are in decode order; a record comes right before the packet after which the anonymizing
machine's decoder returned its frame, so a reader holds only a few decoded frames. The writer runs
that same pairing and digest check on its own output before keeping the coding (``auto`` falls back
to region coding if anything differs), and then reads the finished output as recovery will
(pipeline.video_check.recovery_problem, threaded decoder included), falling back again if that fails;
so a payload written in source coding recovers exactly at least on the machine that wrote it.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from faceveil.errors import FaceveilError, InputError, PayloadCorruptError, SourceMismatchError
from faceveil.io.video import (
    DecoderParameters,
    DecoderStalledError,
    PacketDecoder,
    SourcePacket,
    TimeSpan,
    decoder_build,
    decoder_parameters,
    iter_packets,
    to_display,
)
from faceveil.pipeline.video_payload import (
    _REGION,
    SOURCE_CODING,
    ChunkFile,
    FrameRecord,
    OpenedVideoPayload,
    TrackRegion,
    open_video_payload,
    pack_frame_header,
    read_frame_header,
)

MODE_SOURCE = 3  # region pixels come from the decoded source frame; data = their digest
DIGEST_BYTES = 32
KIND_PACKET, KIND_RECORD = 0, 1
PACKET_KEYFRAME, PACKET_NO_PTS, PACKET_NO_DTS = 1, 2, 4
_PACKET = struct.Struct(">BqqBI")
_RECORD = struct.Struct(">BqI")
SOURCE_CHUNK_BYTES = 1 << 20  # plaintext per chunk (a chunk holds whole items, so may exceed it by one packet)
MAX_PENDING_FRAMES = 64  # decoded frames waiting for their record; more means the payload is out of step
DECODE_TIMEOUT_S = 30.0  # watchdog for one stored packet's decode at recovery (a hostile payload must not hang it)
MAX_EXTRADATA_BYTES = 1 << 20
_MAX_TIMESTAMP = 1 << 62
FIX = ("recover on the machine (same faceveil / PyAV / FFmpeg build) that anonymized the video, or anonymize "
       "it again with --payload-coding regions, which stores the pixels themselves")


def region_digest(pixels: np.ndarray) -> bytes:
    """BLAKE2b-256 of an (h, w, 3) uint8 region, its shape included."""
    h, w = pixels.shape[:2]
    digest = hashlib.blake2b(struct.pack(">II", h, w), digest_size=DIGEST_BYTES, person=b"faceveil-region")
    digest.update(np.ascontiguousarray(pixels, dtype=np.uint8).data)
    return digest.digest()


@dataclass(frozen=True)
class SourceInput:
    """The input a source-coded payload is made from: the file, the processed span (so packets start
    where :func:`iter_frames` started decoding), its display rotation and upright frame shape."""

    path: Path
    span: TimeSpan
    rotation: int
    frame_shape: tuple[int, int, int]


@dataclass
class _Expected:
    """A record whose region pixels are to come from the decoded source frame with timestamp ``pts``."""

    pts: int
    record: FrameRecord  # regions still empty
    regions: list[tuple[int, int, int, int, int, bytes]]  # track_id, x, y, w, h, digest


def pack_packet(packet: SourcePacket) -> bytes:
    flags = (PACKET_KEYFRAME if packet.keyframe else 0) | (PACKET_NO_PTS if packet.pts is None else 0) | (
        PACKET_NO_DTS if packet.dts is None else 0)
    return _PACKET.pack(KIND_PACKET, packet.pts or 0, packet.dts or 0, flags, len(packet.data)) + packet.data


def pack_record(record: FrameRecord) -> bytes:
    """A record item: the frame's binding and, per region, its rectangle and pixel digest."""
    parts = pack_frame_header(record)
    for region in record.regions:
        h, w = region.pixels.shape[:2]
        parts += [_REGION.pack(region.track_id, region.x, region.y, w, h, MODE_SOURCE, 0, 0, DIGEST_BYTES),
                  region_digest(region.pixels)]
    body = b"".join(parts)
    return _RECORD.pack(KIND_RECORD, int(record.pts), len(body)) + body


def _parse_record(pts: int, body: bytes, width: int, height: int) -> _Expected:
    reader = io.BytesIO(body)

    def take(n: int) -> bytes:
        data = reader.read(n)
        if len(data) != n:
            raise PayloadCorruptError("video payload record ends early")
        return data

    record, count = read_frame_header(take, width, height)
    regions = []
    for _ in range(count):
        track_id, x, y, w, h, mode, _ox, _oy, length = _REGION.unpack(take(_REGION.size))
        if mode != MODE_SOURCE or length != DIGEST_BYTES or w < 1 or h < 1 or x + w > width or y + h > height:
            raise PayloadCorruptError(f"video payload source region {w}x{h} at ({x}, {y}) is malformed")
        regions.append((track_id, x, y, w, h, take(DIGEST_BYTES)))
    if reader.read(1):
        raise PayloadCorruptError("video payload record has trailing bytes")
    record.pts = pts
    return _Expected(pts, record, regions)


def iter_items(plaintext: bytes, width: int, height: int) -> Iterator[SourcePacket | _Expected]:
    """The packets and records of one chunk, in order."""
    view, pos = memoryview(plaintext), 0
    while pos < len(plaintext):
        kind = plaintext[pos]
        if kind == KIND_PACKET and pos + _PACKET.size <= len(plaintext):
            _, pts, dts, flags, length = _PACKET.unpack_from(plaintext, pos)
            pos += _PACKET.size
            if pos + length > len(plaintext):
                raise PayloadCorruptError("video payload packet ends outside its chunk")
            yield SourcePacket(bytes(view[pos : pos + length]), None if flags & PACKET_NO_PTS else pts,
                               None if flags & PACKET_NO_DTS else dts, bool(flags & PACKET_KEYFRAME))
        elif kind == KIND_RECORD and pos + _RECORD.size <= len(plaintext):
            _, pts, length = _RECORD.unpack_from(plaintext, pos)
            pos += _RECORD.size
            if pos + length > len(plaintext):
                raise PayloadCorruptError("video payload record ends outside its chunk")
            yield _parse_record(pts, bytes(view[pos : pos + length]), width, height)
        else:
            raise PayloadCorruptError(f"video payload item of unknown kind {kind}")
        pos += length


class SourceMatcher:
    """Decodes source packets and pairs the frames with records (both in presentation order, by pts):
    crops each record's rectangles from its frame and checks their digests.

    Frames before ``first_pts``, without a timestamp, between records without one, or after the last
    record are the ones anonymization did not process: dropped."""

    def __init__(self, params: DecoderParameters, rotation: int, first_pts: int, total: int,
                 frame_shape: tuple[int, int, int], built_with: str = "", *, threads: bool = True,
                 timeout_s: float | None = None) -> None:
        self.decoder = PacketDecoder(params, threads=threads, timeout_s=timeout_s)
        self.max_packet_bytes = params.width * params.height * 8 + (1 << 20)  # beyond raw 16-bit RGBA: not a frame
        self._last_dts: int | None = None
        self._packets = 0
        self.rotation, self.first_pts, self.total, self.frame_shape = rotation, first_pts, total, frame_shape
        self.built_with = built_with
        self.frames: deque[tuple[int, np.ndarray]] = deque()
        self.records: deque[_Expected] = deque()
        self.matched = 0

    @property
    def done(self) -> bool:
        return self.matched >= self.total

    def add_record(self, expected: _Expected) -> None:
        if self.records and expected.pts <= self.records[-1].pts:
            raise PayloadCorruptError("video payload records are out of order")
        self.records.append(expected)

    def check_packet(self, packet: SourcePacket) -> None:
        """Validate a stored packet before any decoder sees it (PayloadCorruptError): the stream starts at a
        key frame, sizes fit the frame, timestamps are in range and decode timestamps never go back."""
        if not self._packets and not packet.keyframe:
            raise PayloadCorruptError("video payload packets do not start at a key frame")
        if not 0 < len(packet.data) <= self.max_packet_bytes:
            raise PayloadCorruptError(f"video payload packet of {len(packet.data)} bytes is implausible")
        for stamp in (packet.pts, packet.dts):
            if stamp is not None and abs(stamp) > _MAX_TIMESTAMP:
                raise PayloadCorruptError("video payload packet timestamp is out of range")
        if packet.dts is not None:
            if self._last_dts is not None and packet.dts < self._last_dts:
                raise PayloadCorruptError("video payload packets go back in decode order")
            self._last_dts = packet.dts
        self._packets += 1

    def decode(self, packet: SourcePacket | None) -> None:
        """Feed one packet (None: flush) and queue the frames it completes."""
        if packet is not None:
            self.check_packet(packet)
        for pts, rgb in self.decoder.decode(packet):
            if pts is None or pts < self.first_pts or self.done:
                continue
            self.frames.append((pts, rgb))
            if len(self.frames) > MAX_PENDING_FRAMES:
                raise PayloadCorruptError("video payload packets and records are out of step")

    def pairs(self) -> Iterator[FrameRecord]:
        """The records whose frames have been decoded, regions filled in and checked. A record without
        regions needs no pixels: it is released at once (its frame may not be stored at all)."""
        while self.records:
            expected = self.records[0]
            if not expected.regions:
                self.records.popleft()
                self.matched += 1
                while self.frames and self.frames[0][0] <= expected.pts:
                    self.frames.popleft()
                yield expected.record
                continue
            if not self.frames:
                break
            pts, rgb = self.frames[0]
            if pts < expected.pts:
                self.frames.popleft()  # a frame anonymization did not process
                continue
            if pts > expected.pts:
                raise SourceMismatchError(
                    f"frame {expected.record.index} of the original (timestamp {expected.pts}) does not decode from "
                    f"the stored packets here{self._builds()}; {FIX}")
            self.frames.popleft()
            self.records.popleft()
            self.matched += 1
            yield self._fill(expected, rgb)
        if self.done:
            self.frames.clear()

    def _builds(self) -> str:
        here = decoder_build()
        return f" ({here}; anonymized with {self.built_with})" if self.built_with and self.built_with != here else f" ({here})"

    def _fill(self, expected: _Expected, rgb: np.ndarray) -> FrameRecord:
        upright = to_display(rgb, self.rotation)
        if upright.shape != tuple(self.frame_shape):
            raise SourceMismatchError(f"the stored packets decode to {upright.shape[1]}x{upright.shape[0]} frames, "
                                      f"not {self.frame_shape[1]}x{self.frame_shape[0]}; {FIX}")
        record = expected.record
        for track_id, x, y, w, h, digest in expected.regions:
            pixels = np.ascontiguousarray(upright[y : y + h, x : x + w])
            if region_digest(pixels) != digest:
                raise SourceMismatchError(
                    f"frame {record.index}: the original pixels decoded here differ from the ones that were anonymized "
                    f"(face rectangle {w}x{h} at ({x}, {y})): this FFmpeg build converts the video's YUV to RGB "
                    f"differently{self._builds()}, so exact recovery from the source packets is impossible; {FIX}")
            record.regions.append(TrackRegion(track_id, x, y, pixels))
        return record


def _description_fields(stream: dict) -> tuple[DecoderParameters, int, int, str]:
    source = stream.get("source")
    try:
        fields = (DecoderParameters.from_dict(source["decoder"]), int(source["rotation"]), int(source["first_pts"]),
                  str(source.get("built_with", "")))
    except (KeyError, TypeError, ValueError):
        raise PayloadCorruptError("video payload header lacks a valid source description") from None
    params, rotation, first_pts, _ = fields
    if (rotation not in (-270, -180, -90, 0, 90, 180, 270) or len(params.extradata) > MAX_EXTRADATA_BYTES or abs(first_pts) > _MAX_TIMESTAMP
            or params.time_base.denominator > 1 << 31 or params.time_base.numerator > 1 << 31):
        raise PayloadCorruptError("video payload header has an implausible source description")
    return fields


def _check_source_shape(params: DecoderParameters, rotation: int, frame_shape: tuple[int, int, int]) -> None:
    """The stored stream must have the frames' size (turned by the rotation) before a decoder is made."""
    height, width = frame_shape[:2]
    stored = (height, width) if rotation % 180 == 0 else (width, height)
    if (params.height, params.width) != stored:
        raise PayloadCorruptError(f"video payload stores {params.width}x{params.height} packets for "
                                  f"{width}x{height} frames")
    import av

    if params.pix_fmt is not None:
        try:
            av.VideoFormat(params.pix_fmt)
        except (ValueError, TypeError):
            raise PayloadCorruptError(f"video payload names an unknown pixel format {params.pix_fmt[:32]!r}") from None
    try:
        if av.codec.Codec(params.codec, "r").type != "video":
            raise PayloadCorruptError(f"video payload names {params.codec!r}, which is not a video decoder")
    except (ValueError, av.error.FFmpegError):
        pass  # not in this build: PacketDecoder says so (SourceMismatchError)


def decode_source_chunks(plaintexts: Iterator[bytes], stream: dict, frame_shape: tuple[int, int, int]) -> Iterator[FrameRecord]:
    """Frame records with their original pixels, from the authenticated chunk plaintexts of a
    source-coded payload (header ``stream`` = ``extra.video``). SourceMismatchError when this machine
    decodes other pixels than the anonymizing one did; PayloadCorruptError on malformed items."""
    params, rotation, first_pts, built_with = _description_fields(stream)
    _check_source_shape(params, rotation, frame_shape)
    height, width = frame_shape[:2]
    try:
        # one decoder thread (frame threading is where a hostile stream hung PyAV) under a watchdog
        matcher = SourceMatcher(params, rotation, first_pts, int(stream.get("frames", 0)), frame_shape, built_with,
                                threads=False, timeout_s=DECODE_TIMEOUT_S)
    except InputError as exc:
        raise SourceMismatchError(f"the payload stores {params.codec} packets, but {exc}; {FIX}") from None
    for plaintext in plaintexts:
        for item in iter_items(plaintext, width, height):
            if isinstance(item, _Expected):
                matcher.add_record(item)
            else:
                _decode(matcher, item)
            yield from matcher.pairs()
    _decode(matcher, None)
    yield from matcher.pairs()
    if not matcher.done:
        raise SourceMismatchError(f"the stored packets decode to {matcher.matched} of the {matcher.total} processed "
                                  f"frames here{matcher._builds()}; {FIX}")


def open_payload(source: BinaryIO, identities, *, content_key=None) -> tuple[OpenedVideoPayload, Iterator[FrameRecord]]:
    """:func:`~faceveil.pipeline.video_payload.open_video_payload` for every coding (1, 2 and source)."""
    return open_video_payload(source, identities, decode_source=decode_source_chunks, content_key=content_key)


def _decode(matcher: SourceMatcher, packet: SourcePacket | None) -> None:
    try:
        matcher.decode(packet)
    except DecoderStalledError as exc:
        raise PayloadCorruptError(f"video payload: {exc} on its stored packets; recovery stopped") from None
    except InputError as exc:  # the packets authenticated, so the decoder, not the data, differs
        raise SourceMismatchError(f"{exc}{matcher._builds()}; {FIX}") from None


class _TooLarge(Exception):
    pass


class SourceRecorder:
    """Anonymization side: records (pts, rectangles, digests, binding) as frames pass, then at the end
    :meth:`encode` writes the source-coded chunks: the input's packets interleaved with the records,
    checked by decoding them as recovery will."""

    def __init__(self, source: SourceInput, path: Path) -> None:
        self.source = source
        self.path = path
        self.params = decoder_parameters(source.path)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in encode()/discard()
        self._chunks: ChunkFile | None = None
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.records = 0
        self.packets = 0
        self.packet_bytes = 0
        self.skipped_gops = 0
        self.problem = ""
        self._region_pts: set[int] = set()  # frames with regions: the only ones whose packets matter

    def add(self, record: FrameRecord) -> None:
        if record.pts is None:
            self.problem = self.problem or f"frame {record.index} has no timestamp to find it by"
            return
        if self.last_pts is not None and record.pts <= self.last_pts:
            # recovery pairs decoded frames with records by timestamp: shared (a 1 ms time base under
            # 1,000+ fps) or backward timestamps cannot be paired
            self.problem = self.problem or f"frames {record.index - 1} and {record.index} do not have increasing timestamps"
        if self.first_pts is None:
            self.first_pts = record.pts
        self.last_pts = record.pts
        if record.regions:
            self._region_pts.add(int(record.pts))
        self._file.write(pack_record(record))
        self.records += 1

    def description(self) -> dict:
        """The header's ``extra.video.source``."""
        return {"decoder": self.params.to_dict(), "rotation": self.source.rotation, "first_pts": self.first_pts,
                "packets": self.packets, "packet_bytes": self.packet_bytes, "skipped_gops": self.skipped_gops,
                "region_digest": "blake2b-256",
                "built_with": decoder_build()}

    def encode(self, content_key, stream_id: bytes, limit: int | None) -> tuple[ChunkFile | None, str]:
        """(the encrypted chunks, "") or (None, why the source coding is not used). ``limit``: give up
        once the chunks exceed this many bytes (the region coding's size)."""
        self._file.close()
        if self.problem or self.first_pts is None:
            return None, self.problem or "no frames"
        needed = self._needed_gops()
        for attempt in ((needed, None) if needed is not None else (None,)):
            chunks = ChunkFile(self.path.with_name(self.path.name + ".enc"), content_key, stream_id, SOURCE_CODING)
            self.packets = self.packet_bytes = self.skipped_gops = 0
            try:
                self._encode(chunks, limit, attempt)
            except _TooLarge:
                chunks.discard()
                return None, f"smaller than the source coding ({limit / 1e6:.2f} MB of regions)"
            except FaceveilError as exc:
                chunks.discard()
                if attempt is not None:
                    continue  # leaving GOPs out broke decoding (a codec's quirk): once more with every packet
                return None, f"the input's packets do not reproduce the frames exactly here: {exc}"
            self._chunks = chunks
            return chunks, ""
        raise AssertionError("unreachable")

    def _needed_gops(self) -> set[int] | None:
        """Which GOPs (counted from the first packet, a new one at each key frame) hold a frame with
        regions, or a leading picture with regions of the next GOP (open GOPs reference the previous
        one). None if every GOP is needed or the packets cannot be read. Demuxing only: fast."""
        needed: set[int] = set()
        gop, key_pts, past_end = 0, None, 0
        packets = iter_packets(self.source.path, self.source.span)
        try:
            for index, packet in enumerate(packets):
                if packet.keyframe and index > 0:
                    gop += 1
                    key_pts = packet.pts
                    if self.last_pts is not None and packet.pts is not None and packet.pts > self.last_pts:
                        past_end += 1
                        if past_end >= 2:
                            break  # two key frames after the last frame: nothing further matters
                if packet.pts in self._region_pts:
                    needed.add(gop)
                    if gop > 0 and key_pts is not None and packet.pts < key_pts:
                        needed.add(gop - 1)
        except FaceveilError:
            return None
        finally:
            packets.close()
        return None if len(needed) > gop else needed

    def _encode(self, chunks: ChunkFile, limit: int | None, needed: set[int] | None = None) -> None:
        """``needed``: the GOPs whose packets to store (None: all)."""
        # one thread: frames come out as early as the codec allows, so the records placed before the packet
        # that completes them reach any reader (whose decoder may be threaded, i.e. later) in time
        matcher = SourceMatcher(self.params, self.source.rotation, self.first_pts, self.records, self.source.frame_shape,
                                decoder_build(), threads=False)
        height, width = self.source.frame_shape[:2]
        pending: list[bytes] = []
        size = 0

        def emit(item: bytes) -> None:
            nonlocal size
            pending.append(item)
            size += len(item)
            if size >= SOURCE_CHUNK_BYTES:
                flush()

        def flush() -> None:
            nonlocal size
            if pending:
                chunks.write(b"".join(pending))
                pending.clear()
                size = 0
            if limit is not None and chunks.bytes > limit:
                raise _TooLarge

        records = self._read_records(width, height)

        def match() -> None:
            # frames decoded and no record waiting: bring in the next records (before the packet that
            # completed the frames, so a reader has them when its decoder returns the frames)
            for _ in matcher.pairs():
                pass
            while matcher.frames and not matcher.records and not matcher.done:
                item = next(records, None)
                if item is None:
                    break
                emit(item[0])
                matcher.add_record(item[1])
                for _ in matcher.pairs():
                    pass

        packets = iter_packets(self.source.path, self.source.span)
        gop = 0
        try:
            for index, packet in enumerate(packets):
                gop += packet.keyframe and index > 0
                if needed is not None and gop not in needed:
                    self.skipped_gops += packet.keyframe or index == 0
                    continue  # no frame with regions decodes from it
                matcher.decode(packet)
                match()
                emit(pack_packet(packet))
                self.packets += 1
                self.packet_bytes += len(packet.data)
                if matcher.done:
                    break
            else:
                matcher.decode(None)
                match()
        finally:
            packets.close()
        for item in records:  # frames after the last stored packet: their records need no pixels, or fail below
            emit(item[0])
            matcher.add_record(item[1])
            for _ in matcher.pairs():
                pass
        flush()
        if not matcher.done:
            raise SourceMismatchError(f"the packets decode to {matcher.matched} of the {matcher.total} processed frames")

    def _read_records(self, width: int, height: int) -> Iterator[tuple[bytes, _Expected]]:
        with open(self.path, "rb") as f:
            while head := f.read(_RECORD.size):
                _, pts, length = _RECORD.unpack(head)
                body = f.read(length)
                yield head + body, _parse_record(pts, body, width, height)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
        if self._chunks is not None:
            self._chunks.discard()
