"""The video recovery payload: an encrypted, compressed stream of the original pixels of every
modified rectangle of every frame (region coding) or of the input's own compressed video packets plus
a digest per rectangle (source coding, below), written and read in bounded memory.

Byte layout (integers big-endian)::

    magic        8   b"\\x89FVV\\r\\n\\x1a\\n"
    version      2   u16: the coding, 1 (regions), 2 (regions + track streams) or 3 (source packets)
    header_len   8   u64
    header       header_len  a standard faceveil recovery container (faceveil.crypto.container.seal)
                             with no regions: it carries the recipient stanzas that wrap the video's
                             content key, the method, and in ``extra`` the stream description
                             (frame count, chunk count, SHA-256 of all chunk bytes, stream id)
    chunks       repeated:   u32 ciphertext_len, ciphertext

Chunk ``i`` = ChaCha20-Poly1305(key = HKDF(content key, "video/<stream id>/chunk/<i>"), zero nonce,
records, aad = "faceveil/video/v1" || stream id || u32 i). Each key encrypts exactly one chunk.
The header (sealed last, once the chunk count and hash are known) authenticates the number of chunks
and the hash of their bytes, so dropped, reordered, duplicated or truncated chunks are detected.
Photos and videos therefore share one key scheme: passphrase and X25519 recipients work the same.

Records of one chunk::

    per frame:  u32 frame_index, u8 flags, [32 bytes pixel_digest if flags & 1],
                [binding if flags & 2: i64 time_us, u16 n_sig, n_sig x (u32 x, y, w, h, u8 rows, cols,
                rows*cols*3 bytes of cell means)], u16 n_regions
    per region: i32 track_id, u32 x, u32 y, u32 w, u32 h, u8 mode, i32 ox, i32 oy, u32 len, data

Region coding, chosen per region by size (measured on a 1280x720 clip of a moving face with sensor
noise, 50 regions of ~256x212: raw 9.4 MB, PNG 5.4 MB, row-delta+zlib 4.1 MB, temporal residual+zlib
4.2 MB, lzma 3.0 MB at 17x the time, WebP-lossless 2.5 MB at 4x the time, **FFV1 2.5 MB** at zlib's speed):

- ``mode 0`` FFV1 (RFC 9043, lossless intra video codec; range coder, large context) of the RGB
  pixels, one FFV1 frame per region. The default: ~40 % smaller than PNG/zlib on camera footage.
- ``mode 1`` temporal: zlib of the difference (mod 256) to the same track's region in the previous
  frame, displaced by (ox, oy) (edge pixels repeated where it does not overlap). Wins on static
  scenes, where decoded H.264 repeats pixels exactly (skip blocks) and the residual is mostly zero.
  The encoder tries a few displacements (same place in the image, same place in the box, centred).

Every chunk starts without references, so chunks decode independently.

Region coding 2 (payload version 2; ``VideoPayloadWriter(region_coding=2)``): a chunk may start with
**per-track lossless video streams** that exploit motion between frames::

    u8 n_streams
    per stream: i32 track_id, u32 x0, u32 y0, u32 width, u32 height, u16 n_packets, then per packet
                u32 len, data

A stream is lossless H.264 (libx264rgb, qp 0, no B-frames; exact for RGB, unlike lossless x264 in any
YUV format) of a canvas at image position (x0, y0) covering all of the track's regions in the chunk: frame
k paints the track's k-th region of the chunk at its place, over the previous canvas (so still areas cost
nothing), in a reversible colour transform (R - G + 128, G, B - G + 128 mod 256: decorrelated planes
code ~15 % smaller). Regions of such a track are recorded with ``mode 2`` (stream, no data) and read back
from the canvas. The encoder codes every track both ways and keeps a stream only when it is smaller.

Measured (docs/video.md), lossless motion compensation rarely pays on real footage: sub-pixel motion and
sensor noise leave residuals FFV1's context modelling codes better, and a still face is already nearly
free in the temporal mode. Streams win only on whole-pixel motion inside a fixed box (2-3x there), never
lost size elsewhere, but cost an extra encode per track. So new payloads still default to coding 1
(``REGION_CODING``); readers accept both.

Source coding (payload version 3, ``region_coding`` 3; format in pipeline.video_source and
docs/format.md §12.1): the chunks hold **the input's own compressed video packets** (from the key frame
the pipeline's decoder started at) interleaved with the frame records, whose regions keep only their
rectangle and a BLAKE2b-256 digest of the exact original pixels (``mode 3``). Recovery decodes the
packets as anonymization did and checks every digest (SourceMismatchError, exit 14, where this FFmpeg
build converts YUV to RGB differently). Chunks use their own key family (``video/<id>/source/<i>``).
``VideoPayloadWriter(payload_coding="auto")`` (the pipeline's default) writes coding 1 and, at the end,
the source coding, and keeps the source coding only if it is smaller and decodes here to exactly the
recorded pixels: on camera footage the source is usually several times smaller than lossless regions
(docs/video.md, "Size"), on a small face in a high-bitrate video the regions are.
"""

from __future__ import annotations

import hashlib
import io
import secrets as _secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from faceveil.crypto.container import ContainerInfo, open_container, open_container_with_key, read_info, seal
from faceveil.crypto.envelope import ContentKey
from faceveil.crypto.primitives import AuthenticationFailed, open_once, seal_once
from faceveil.errors import PayloadCorruptError, TamperedPayloadError

VIDEO_MAGIC = b"\x89FVV\r\n\x1a\n"
VIDEO_VERSION = 3  # newest payload version this build reads (1: per-frame regions, 2: + video streams, 3: source)
_PREAMBLE = struct.Struct(">8sHQ")
_CHUNK_LEN = struct.Struct(">I")
_FRAME = struct.Struct(">IB")
_COUNT = struct.Struct(">H")
_REGION = struct.Struct(">iIIIIBiiI")
_STREAM_COUNT = struct.Struct(">B")
_STREAM = struct.Struct(">iIIIIH")  # track_id, x0, y0, canvas width, canvas height, packets
_DIGEST_BYTES = 32
_STREAM_ID_BYTES = 16
MAX_CHUNK_BYTES = 512 * 1024 * 1024  # a chunk is ~1 s of video; anything larger is corrupt
MAX_CHUNK_FRAMES = 240
MODE_FFV1 = 0
MODE_TEMPORAL = 1
MODE_STREAM = 2  # region coding 2: pixels come from the track's lossless video stream
ZLIB_LEVEL = 6
REGION_CODING = 1  # the region coding new payloads use (see the module docstring); 2 adds per-track video streams
SOURCE_CODING = 3  # the input's compressed packets + region digests (pipeline.video_source)
_SUPPORTED_VERSIONS = (1, 2, 3)
REGION_DECODE_TIMEOUT_S = 30.0  # watchdog for one FFV1 region / track-stream packet decode (hostile payloads)


@dataclass
class TrackRegion:
    """Original pixels of one modified rectangle of a frame. pixels: (h, w, 3) uint8 at (x, y).

    track_id: the face track it belongs to (-1 for pixels no track owns)."""

    track_id: int
    x: int
    y: int
    pixels: np.ndarray


@dataclass
class RegionSignature:
    """A coarse picture of the *anonymized* pixels of one rectangle as written to the video: the mean
    of each channel over a grid of cells, (rows, cols, 3) uint8. Lossy coding moves cell means by a
    few levels; another video, or an edited face, moves them by tens (see :data:`BINDING`)."""

    x: int
    y: int
    w: int
    h: int
    cells: np.ndarray


@dataclass
class FrameRecord:
    """Everything recovery needs for one frame: its regions and what binds it to the anonymized video:
    for lossless outputs the exact pixel_digest of the anonymized frame; for every output (format v1
    with binding) the frame's timestamp relative to the first frame and :class:`RegionSignature` of the
    whole frame and of every changed rectangle."""

    index: int
    regions: list[TrackRegion]
    digest: bytes | None = None
    time_us: int | None = None  # microseconds after the first frame, as written
    signatures: list[RegionSignature] = field(default_factory=list)
    pts: int | None = None  # the source frame's timestamp (its stream's time base); source coding matches by it


# --------------------------------------------------------------------------------------------- binding

STREAM_TAG = "faceveil_stream_id"  # container tag by which an anonymized video names its payload's stream id
FLAG_DIGEST = 1
FLAG_BINDING = 2
_BINDING = struct.Struct(">qH")  # time_us, number of signatures
_SIGNATURE = struct.Struct(">IIIIBB")  # x, y, w, h, rows, cols
FRAME_GRID = 16  # cells per side of the whole-frame signature
REGION_GRID = 8  # cells per side of a changed rectangle's signature


@dataclass(frozen=True)
class BindingTolerance:
    """How far the decoded anonymized pixels may drift from the signatures taken before encoding.

    A signature cell is the mean of one channel over ~1/64 of a face rectangle (1/256 of the frame),
    so lossy coding noise averages out: measured on the synthetic test clip (320x240, mosaic faces,
    x264) the largest cell difference is 8 levels at CRF 18 and 21 at CRF 35, the largest mean 1.7 and 4.6;
    CRF 45 exceeds the tolerance (mean 8.6) and is refused. A
    different video or a repainted face differs by tens of levels in many cells. ``mean``: the
    largest allowed mean |difference| per signature; ``cell``: the largest for any one cell;
    ``time_frames``: timestamps may differ by this fraction of a frame period (container rounding)."""

    mean: float = 6.0
    cell: int = 48
    time_frames: float = 0.25

    def to_dict(self) -> dict:
        return {"mean": self.mean, "cell": self.cell, "time_frames": self.time_frames}

    @classmethod
    def from_dict(cls, d: dict) -> BindingTolerance:
        try:
            return cls(float(d["mean"]), int(d["cell"]), float(d["time_frames"]))
        except (KeyError, TypeError, ValueError):
            raise PayloadCorruptError("video payload header has a malformed binding tolerance") from None


BINDING = BindingTolerance()


def _cell_edges(size: int, cells: int) -> np.ndarray:
    return np.linspace(0, size, cells + 1).round().astype(np.int64)


def region_signature(rgb: np.ndarray, x: int, y: int, w: int, h: int, grid: int) -> RegionSignature:
    """Per-channel cell means of ``rgb[y:y+h, x:x+w]`` on a grid of at most ``grid`` x ``grid`` cells."""
    rows, cols = min(grid, h), min(grid, w)
    ys, xs = _cell_edges(h, rows), _cell_edges(w, cols)
    # cell sums: one summed row band per cell row, then column bands; O(h*w) with no full-size
    # temporary (this runs on every frame; ~7 ms for a 1080p frame)
    block = rgb[y : y + h, x : x + w]
    bands = np.stack([block[ys[i] : ys[i + 1]].sum(axis=0, dtype=np.uint32) for i in range(rows)])
    total = np.add.reduceat(bands.astype(np.uint64), xs[:-1], axis=1)  # 8K frames overflow 32 bits
    area = (ys[1:] - ys[:-1])[:, None, None] * (xs[1:] - xs[:-1])[None, :, None]
    return RegionSignature(x, y, w, h, np.clip(np.round(total / area), 0, 255).astype(np.uint8))


def frame_signatures(rgb: np.ndarray, rects: Sequence[tuple[int, int, int, int]]) -> list[RegionSignature]:
    """The whole frame's signature, then one per changed rectangle (x, y, w, h), of the anonymized frame."""
    height, width = rgb.shape[:2]
    return [region_signature(rgb, 0, 0, width, height, FRAME_GRID),
            *(region_signature(rgb, *rect, REGION_GRID) for rect in rects if rect[2] > 0 and rect[3] > 0)]


def signature_mismatch(rgb: np.ndarray, signatures: Sequence[RegionSignature], tolerance: BindingTolerance) -> str | None:
    """None if the decoded frame ``rgb`` matches every signature within ``tolerance``, else what differs."""
    height, width = rgb.shape[:2]
    for sig in signatures:
        if sig.x + sig.w > width or sig.y + sig.h > height:
            return f"rectangle {sig.w}x{sig.h} at ({sig.x}, {sig.y}) is outside the frame"
        grid = max(sig.cells.shape[:2])
        now = region_signature(rgb, sig.x, sig.y, sig.w, sig.h, grid).cells
        if now.shape != sig.cells.shape:
            return "signature grid differs"
        diff = np.abs(now.astype(np.int16) - sig.cells.astype(np.int16))
        whole = (sig.x, sig.y, sig.w, sig.h) == (0, 0, width, height)
        what = "the frame" if whole else f"the face rectangle at ({sig.x}, {sig.y})"
        if diff.mean() > tolerance.mean or diff.max() > tolerance.cell:
            return (f"{what} differs from the anonymized pixels the payload was made for (mean {diff.mean():.1f}, "
                    f"max {int(diff.max())} levels; tolerance {tolerance.mean:g} / {tolerance.cell})")
    return None


def _pack_binding(record: FrameRecord) -> list[bytes]:
    parts = [_BINDING.pack(int(record.time_us or 0), len(record.signatures))]
    for sig in record.signatures:
        rows, cols = sig.cells.shape[:2]
        parts += [_SIGNATURE.pack(sig.x, sig.y, sig.w, sig.h, rows, cols), np.ascontiguousarray(sig.cells, dtype=np.uint8).tobytes()]
    return parts


def _unpack_binding(take, width: int, height: int) -> tuple[int, list[RegionSignature]]:
    time_us, count = _BINDING.unpack(take(_BINDING.size))
    signatures = []
    for _ in range(count):
        x, y, w, h, rows, cols = _SIGNATURE.unpack(take(_SIGNATURE.size))
        if not (1 <= w and 1 <= h and x + w <= width and y + h <= height and 1 <= rows <= h and 1 <= cols <= w):
            raise PayloadCorruptError("video payload frame signature is malformed")
        cells = np.frombuffer(take(rows * cols * 3), dtype=np.uint8).reshape(rows, cols, 3)
        signatures.append(RegionSignature(x, y, w, h, cells))
    return time_us, signatures


def pack_frame_header(record: FrameRecord) -> list[bytes]:
    """The per-frame part of a record (index, flags, digest, binding, region count); regions follow."""
    bound = record.time_us is not None
    parts = [_FRAME.pack(record.index, (FLAG_DIGEST if record.digest is not None else 0) | (FLAG_BINDING if bound else 0))]
    if record.digest is not None:
        parts.append(record.digest)
    if bound:
        parts += _pack_binding(record)
    parts.append(_COUNT.pack(len(record.regions)))
    return parts


def read_frame_header(take, width: int, height: int) -> tuple[FrameRecord, int]:
    """Inverse of :func:`pack_frame_header`: (record without regions, number of regions that follow)."""
    index, flags = _FRAME.unpack(take(_FRAME.size))
    if flags & ~(FLAG_DIGEST | FLAG_BINDING):
        raise PayloadCorruptError(f"video payload frame has unknown flags {flags}")
    digest = take(_DIGEST_BYTES) if flags & FLAG_DIGEST else None
    time_us, signatures = _unpack_binding(take, width, height) if flags & FLAG_BINDING else (None, [])
    (count,) = _COUNT.unpack(take(_COUNT.size))
    return FrameRecord(index=index, regions=[], digest=digest, time_us=time_us, signatures=signatures), count


# --------------------------------------------------------------------------------------------- coding


def _reference(prev: np.ndarray, height: int, width: int, ox: int, oy: int) -> np.ndarray:
    """(height, width, 3) reference: ``prev`` sampled at (row + oy, col + ox), edges repeated."""
    rows = np.clip(np.arange(height) + oy, 0, prev.shape[0] - 1)
    cols = np.clip(np.arange(width) + ox, 0, prev.shape[1] - 1)
    return prev[rows[:, None], cols[None, :]]


def _candidate_offsets(prev: TrackRegion, x: int, y: int, w: int, h: int) -> list[tuple[int, int]]:
    ph, pw = prev.pixels.shape[:2]
    offsets = [(x - prev.x, y - prev.y), (0, 0), ((pw - w) // 2, (ph - h) // 2)]
    return list(dict.fromkeys(offsets))  # unique, order kept


def encode_ffv1(pixels: np.ndarray) -> bytes:
    """(h, w, 3) uint8 RGB -> one FFV1 frame (bgr0: an exact RGB round trip, unlike any YUV format)."""
    import av

    context = av.CodecContext.create("ffv1", "w")
    context.width, context.height = pixels.shape[1], pixels.shape[0]
    context.pix_fmt = "bgr0"
    context.time_base = Fraction(1, 1)
    context.options = {"level": "1", "coder": "range_def", "context": "1"}  # level 1: no extradata to store
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24").reformat(format="bgr0")
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def decode_ffv1(data: bytes, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`encode_ffv1`; PayloadCorruptError unless it yields one (height, width) frame."""
    import av

    from faceveil.io.video import DecoderStalledError, run_watched

    context = av.CodecContext.create("ffv1", "r")
    context.width, context.height = width, height
    context.thread_count = 1  # hostile data (an authenticated forgery): no decoder threads, and a watchdog
    try:
        frames = run_watched(lambda: [*context.decode(av.Packet(data)), *context.decode(None)], REGION_DECODE_TIMEOUT_S)
    except av.error.FFmpegError as exc:
        raise PayloadCorruptError(f"video payload region does not decode: {exc}") from None
    except DecoderStalledError as exc:
        raise PayloadCorruptError(f"video payload region: {exc}") from None
    if len(frames) != 1 or (frames[0].height, frames[0].width) != (height, width):
        raise PayloadCorruptError("video payload region does not decode to its declared size")
    return frames[0].to_ndarray(format="rgb24")


# ----------------------------------------------------------------- region coding 2: per-track video streams

STREAM_CODEC = "libx264rgb"
# qp 0 = lossless; no B-frames so packets decode in order without timestamps; veryfast: measured the
# best size/time trade-off (medium is ~8 % smaller at 3x the time).
STREAM_OPTIONS = {"qp": "0", "preset": "veryfast", "x264-params": "bframes=0"}


def _forward_rct(rgb: np.ndarray) -> np.ndarray:
    """Reversible colour transform (R - G + 128, G, B - G + 128) mod 256 of (h, w, 3) uint8."""
    out = np.empty_like(rgb)
    g = rgb[..., 1]
    out[..., 0] = rgb[..., 0] - g + np.uint8(128)  # uint8 arithmetic wraps mod 256: exact inverse below
    out[..., 1] = g
    out[..., 2] = rgb[..., 2] - g + np.uint8(128)
    return out


def _inverse_rct(coded: np.ndarray) -> np.ndarray:
    out = np.empty_like(coded)
    g = coded[..., 1]
    out[..., 0] = coded[..., 0] + g - np.uint8(128)
    out[..., 1] = g
    out[..., 2] = coded[..., 2] + g - np.uint8(128)
    return out


def encode_track_stream(regions: Sequence[TrackRegion]) -> tuple[tuple[int, int, int, int], list[bytes]]:
    """Lossless H.264 of one track's regions (in order) on a shared canvas.

    Returns ((x0, y0, width, height) of the canvas in image pixels, packets in decode order); frame k of
    the stream holds region k at (region.x - x0, region.y - y0)."""
    import av

    x0, y0 = min(r.x for r in regions), min(r.y for r in regions)
    width = max(r.x + r.pixels.shape[1] for r in regions) - x0
    height = max(r.y + r.pixels.shape[0] for r in regions) - y0
    width, height = width + width % 2, height + height % 2  # even sizes, as every H.264 profile accepts
    context = av.CodecContext.create(STREAM_CODEC, "w")
    context.width, context.height = width, height
    context.pix_fmt = "rgb24"
    context.time_base = Fraction(1, 25)
    context.options = dict(STREAM_OPTIONS)
    canvas = np.zeros((height, width, 3), np.uint8)
    packets: list[bytes] = []
    for k, region in enumerate(regions):
        h, w = region.pixels.shape[:2]
        canvas[region.y - y0 : region.y - y0 + h, region.x - x0 : region.x - x0 + w] = _forward_rct(region.pixels)
        frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
        frame.pts = k
        packets += [bytes(p) for p in context.encode(frame)]
    packets += [bytes(p) for p in context.encode(None)]
    return (x0, y0, width, height), packets


def decode_track_stream(packets: Sequence[bytes], width: int, height: int) -> Iterator[np.ndarray]:
    """Inverse of :func:`encode_track_stream`: the (height, width, 3) canvases in the original colours, lazily."""
    import av

    from faceveil.io.video import DecoderStalledError, run_watched

    context = av.CodecContext.create("h264", "r")
    context.thread_count = 1  # hostile data: no decoder threads, and a watchdog per packet
    try:
        for data in [*packets, None]:
            packet = None if data is None else av.Packet(data)
            decoded = run_watched(lambda: [(f.height, f.width, f.to_ndarray(format="rgb24"))
                                           for f in context.decode(packet)], REGION_DECODE_TIMEOUT_S)
            for frame_height, frame_width, rgb in decoded:
                if (frame_height, frame_width) != (height, width):
                    raise PayloadCorruptError("video payload stream does not decode to its declared size")
                yield _inverse_rct(rgb)
    except av.error.FFmpegError as exc:
        raise PayloadCorruptError(f"video payload stream does not decode: {exc}") from None
    except DecoderStalledError as exc:
        raise PayloadCorruptError(f"video payload stream: {exc}") from None


def _abs_residual(diff: np.ndarray) -> int:
    """Sum of |signed residual| of a uint8 difference taken mod 256."""
    return int(np.minimum(diff, 256 - diff.astype(np.int16)).sum())


class RegionStreamEncoder:
    """Turns frame records into chunk plaintexts, one per ``chunk_frames`` frames.

    ``coding``: 1 writes per-frame regions only (payload version 1); 2 also tries per-track video streams
    (see the module docstring). The decoder must be told the same coding."""

    def __init__(self, chunk_frames: int = 30, coding: int = 1) -> None:
        if not 1 <= chunk_frames <= MAX_CHUNK_FRAMES:
            raise ValueError(f"chunk_frames must be in [1, {MAX_CHUNK_FRAMES}]")
        if coding not in (1, 2):
            raise ValueError("region coding must be 1 or 2")
        self.chunk_frames = chunk_frames
        self.coding = coding
        self._parts: list[bytes] = []
        self._frames_in_chunk = 0
        self._previous: dict[int, TrackRegion] = {}  # per track, within the current chunk
        self._track_regions: dict[int, list[tuple[int, TrackRegion]]] = {}  # coding 2: (part index, region)
        self.raw_bytes = 0  # uncompressed size of the regions seen
        self.mode_counts = {MODE_FFV1: 0, MODE_TEMPORAL: 0, MODE_STREAM: 0}

    def add(self, record: FrameRecord) -> bytes | None:
        """Code one frame; returns a finished chunk plaintext when the chunk is full, else None."""
        self._parts += pack_frame_header(record)
        for region in record.regions:
            if self.coding >= 2 and region.track_id >= 0:
                self._track_regions.setdefault(region.track_id, []).append((len(self._parts), region))
            self._parts += self._code_region(region)
            self.raw_bytes += region.pixels.nbytes
        self._previous.update({r.track_id: r for r in record.regions if r.track_id >= 0})
        self._frames_in_chunk += 1
        return self.flush() if self._frames_in_chunk >= self.chunk_frames else None

    def _code_region(self, region: TrackRegion) -> list[bytes]:
        pixels = np.ascontiguousarray(region.pixels, dtype=np.uint8)
        h, w = pixels.shape[:2]
        mode, ox, oy, data = MODE_FFV1, 0, 0, encode_ffv1(pixels)
        prev = self._previous.get(region.track_id) if region.track_id >= 0 else None
        if prev is not None:
            cost, ox_t, oy_t, diff = min(
                ((_abs_residual(d), cox, coy, d) for cox, coy in _candidate_offsets(prev, region.x, region.y, w, h)
                 for d in [pixels - _reference(prev.pixels, h, w, cox, coy)]),  # uint8: wraps mod 256
                key=lambda c: c[0],
            )
            # cheap screen: zlib only pays off when most of the residual is (near) zero
            if cost < pixels.size:
                temporal = zlib.compress(diff.tobytes(), ZLIB_LEVEL)
                if len(temporal) < len(data):
                    mode, ox, oy, data = MODE_TEMPORAL, ox_t, oy_t, temporal
        self.mode_counts[mode] += 1
        header = _REGION.pack(region.track_id, region.x, region.y, w, h, mode, ox, oy, len(data))
        return [header, data]

    def flush(self) -> bytes | None:
        """Finish the current chunk (None if it is empty)."""
        if self._frames_in_chunk == 0:
            return None
        streams = self._streams_section() if self.coding >= 2 else b""
        chunk = streams + b"".join(self._parts)
        self._parts, self._frames_in_chunk, self._previous, self._track_regions = [], 0, {}, {}
        return chunk

    def _streams_section(self) -> bytes:
        """Code-2 preamble of the chunk: every track whose video stream beats its per-frame coding gets a
        stream, and its region records are rewritten to ``MODE_STREAM`` (in ``self._parts``)."""
        sections, count = [], 0
        for track_id, entries in self._track_regions.items():
            if count == 255:  # u8 count; further tracks keep their per-frame coding
                break
            if len(entries) < 2:
                continue  # one frame: nothing to predict from
            per_frame = sum(len(self._parts[i + 1]) for i, _ in entries)
            try:
                (x0, y0, canvas_w, canvas_h), packets = encode_track_stream([r for _, r in entries])
            except Exception:  # noqa: BLE001 - an encoder hiccup must not fail the video: per-frame coding stays
                continue
            stream_bytes = sum(_CHUNK_LEN.size + len(p) for p in packets) + _STREAM.size
            if stream_bytes >= per_frame:
                continue
            count += 1
            sections.append(_STREAM.pack(track_id, x0, y0, canvas_w, canvas_h, len(packets)))
            sections += [_CHUNK_LEN.pack(len(p)) + p for p in packets]
            for i, region in entries:
                old_mode = _REGION.unpack(self._parts[i])[5]
                self.mode_counts[old_mode] -= 1
                self.mode_counts[MODE_STREAM] += 1
                h, w = region.pixels.shape[:2]
                self._parts[i] = _REGION.pack(track_id, region.x, region.y, w, h, MODE_STREAM, 0, 0, 0)
                self._parts[i + 1] = b""
        return _STREAM_COUNT.pack(count) + b"".join(sections)


def decode_chunk(plaintext: bytes, frame_shape: tuple[int, int, int], coding: int = 1) -> Iterator[FrameRecord]:
    """Inverse of the encoder for one chunk. frame_shape: (H, W, 3) bounds every region; ``coding`` as
    the encoder's (the payload header says which).

    PayloadCorruptError if the records are malformed (after authentication this means a bug or a
    forged payload made by a key holder, never random damage)."""
    height, width, _ = frame_shape
    if coding not in (1, 2):
        raise PayloadCorruptError(f"video payload region coding {coding} is not supported")
    reader = io.BytesIO(plaintext)
    previous: dict[int, TrackRegion] = {}

    def take(n: int) -> bytes:
        data = reader.read(n)
        if len(data) != n:
            raise PayloadCorruptError("video payload chunk ends inside a record")
        return data

    streams = _read_streams(take, width, height) if coding >= 2 else {}
    while reader.tell() < len(plaintext):
        record, count = read_frame_header(take, width, height)
        record.regions = [_decode_region(take, previous, width, height, streams) for _ in range(count)]
        previous.update({r.track_id: r for r in record.regions if r.track_id >= 0})
        yield record


@dataclass
class _TrackStream:
    x0: int
    y0: int
    width: int
    height: int
    canvases: Iterator[np.ndarray]


def _read_streams(take, frame_width: int, frame_height: int) -> dict[int, _TrackStream]:
    (count,) = _STREAM_COUNT.unpack(take(_STREAM_COUNT.size))
    streams = {}
    for _ in range(count):
        track_id, x0, y0, width, height, n_packets = _STREAM.unpack(take(_STREAM.size))
        # canvases are padded to even sizes, so they may reach one pixel past the frame
        if not (1 <= width <= frame_width + 1 and 1 <= height <= frame_height + 1) or track_id in streams:
            raise PayloadCorruptError("video payload stream header is invalid")
        packets = []
        for _ in range(n_packets):
            (length,) = _CHUNK_LEN.unpack(take(_CHUNK_LEN.size))
            packets.append(take(length))
        streams[track_id] = _TrackStream(x0, y0, width, height, decode_track_stream(packets, width, height))
    return streams


def _decode_region(take, previous: dict[int, TrackRegion], width: int, height: int,
                   streams: dict[int, _TrackStream] | None = None) -> TrackRegion:
    track_id, x, y, w, h, mode, ox, oy, length = _REGION.unpack(take(_REGION.size))
    if w < 1 or h < 1 or x + w > width or y + h > height:
        raise PayloadCorruptError(f"video payload region {w}x{h} at ({x}, {y}) is outside the {width}x{height} frame")
    data = take(length)
    if mode == MODE_STREAM and streams and track_id in streams:
        stream = streams[track_id]
        canvas = next(stream.canvases, None)
        cx, cy = x - stream.x0, y - stream.y0
        if canvas is None or cx < 0 or cy < 0 or cx + w > stream.width or cy + h > stream.height:
            raise PayloadCorruptError("video payload region does not match its track's stream")
        return TrackRegion(track_id, x, y, np.ascontiguousarray(canvas[cy : cy + h, cx : cx + w]))
    if mode == MODE_FFV1:
        pixels = decode_ffv1(data, h, w)
    elif mode == MODE_TEMPORAL and track_id in previous:
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(data, w * h * 3 + 1)  # capped: no decompression bomb
        except zlib.error as exc:
            raise PayloadCorruptError(f"video payload region does not inflate: {exc}") from None
        if len(raw) != w * h * 3:
            raise PayloadCorruptError("video payload region does not match its declared size")
        residual = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
        pixels = residual + _reference(previous[track_id].pixels, h, w, ox, oy)
    else:
        raise PayloadCorruptError(f"video payload region has an invalid coding mode {mode}")
    return TrackRegion(track_id, x, y, pixels)


# --------------------------------------------------------------------------------------------- encryption


class VideoPixelDigest:
    """SHA-256 over the per-frame ``pixel_digest`` of every anonymized frame, in order.

    ``complete`` stays True only if every frame contributed a digest (lossless outputs)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"faceveil/video-pixels/v1\x00")
        self.frames = 0
        self.complete = True

    def add(self, frame_digest: bytes | None) -> None:
        self.frames += 1
        if frame_digest is None:
            self.complete = False
        else:
            self._hash.update(frame_digest)

    def digest(self) -> bytes:
        return self._hash.digest()


def _chunk_key(content_key: ContentKey, stream_id: bytes, index: int, coding: int = 1) -> bytes:
    # source coding (3) has its own key family: during `auto` both codings are written (one is dropped),
    # and no key may ever encrypt two plaintexts under the fixed zero nonce
    kind = "source" if coding == SOURCE_CODING else "chunk"
    return content_key.derive(f"video/{stream_id.hex()}/{kind}/{index}", 32)


def _chunk_aad(stream_id: bytes, index: int, coding: int = 1) -> bytes:
    if coding == SOURCE_CODING:
        return b"faceveil/video/v3\x00source\x00" + stream_id + struct.pack(">I", index)
    return b"faceveil/video/v1\x00chunk\x00" + stream_id + struct.pack(">I", index)


class ChunkFile:
    """Encrypts chunk plaintexts one by one into a scratch file (``u32 len, ciphertext``), hashing the
    framed bytes for the header. Memory: one chunk."""

    def __init__(self, path: Path, content_key: ContentKey, stream_id: bytes, coding: int = 1) -> None:
        self.path, self.content_key, self.stream_id, self.coding = path, content_key, stream_id, coding
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()/discard()
        self.hash = hashlib.sha256()
        self.chunks = 0
        self.bytes = 0

    def write(self, plaintext: bytes) -> None:
        key = _chunk_key(self.content_key, self.stream_id, self.chunks, self.coding)
        ciphertext = seal_once(key, plaintext, _chunk_aad(self.stream_id, self.chunks, self.coding))
        framed = _CHUNK_LEN.pack(len(ciphertext)) + ciphertext
        self._file.write(framed)
        self.hash.update(framed)
        self.chunks += 1
        self.bytes += len(framed)

    def close(self) -> None:
        self._file.close()

    def copy_to(self, destination: BinaryIO) -> int:
        self.close()
        written = 0
        with open(self.path, "rb") as chunks:
            while block := chunks.read(1 << 20):
                destination.write(block)
                written += len(block)
        return written

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclass
class PayloadStats:
    frames: int = 0
    regions: int = 0
    chunks: int = 0
    raw_region_bytes: int = 0  # uncompressed residual records
    encrypted_bytes: int = 0  # chunk bytes as stored (region coding; the source coding's in source_bytes)
    source_bytes: int | None = None  # encrypted chunk bytes of the source coding, when it was tried
    coding: int = REGION_CODING  # the coding written (3: source)
    coding_note: str = ""  # why that coding (for the report)


PAYLOAD_CODINGS = ("auto", "regions", "source")


class VideoPayloadWriter:
    """Collects frame records, encrypts them chunk by chunk into a temporary file, and on
    :meth:`finish` writes the final payload file (header first). Memory: one chunk.

    ``payload_coding``: "regions" writes region coding ``region_coding``; "source" the source coding
    (``source``: a :class:`faceveil.pipeline.video_source.SourceRecorder`, needed by both "source" and
    "auto"; without one the writer writes region coding); "auto" records both and keeps the smaller,
    the source coding only if it decodes here to exactly the recorded pixels."""

    def __init__(self, scratch: Path, content_key: ContentKey, chunk_frames: int = 30,
                 region_coding: int = REGION_CODING, *, payload_coding: str = "regions", source=None) -> None:
        if payload_coding not in PAYLOAD_CODINGS:
            raise ValueError(f"payload_coding must be one of {PAYLOAD_CODINGS}")
        self.content_key = content_key
        self.stream_id = _secrets.token_bytes(_STREAM_ID_BYTES)
        self.stats = PayloadStats(coding=region_coding)
        self.payload_coding = payload_coding if source is not None else "regions"
        self._encoder = RegionStreamEncoder(chunk_frames, coding=region_coding)
        self._regions = ChunkFile(scratch, content_key, self.stream_id, region_coding)
        self._frames_digest = VideoPixelDigest()
        self._bound = True  # every frame carried its binding (timestamp + signatures)
        self._recorder = source  # discarded with the writer, used or not
        self._source = source if self.payload_coding != "regions" else None
        self._chosen: ChunkFile | None = None  # the chunks finish() writes

    def add(self, record: FrameRecord) -> None:
        self.stats.frames += 1
        self.stats.regions += len(record.regions)
        self._frames_digest.add(record.digest)
        self._bound = self._bound and record.time_us is not None
        if self._source is not None:
            self._source.add(record)
        if self.payload_coding == "source":
            self._encoder.raw_bytes += sum(r.pixels.nbytes for r in record.regions)
            return  # no region coding to compare with
        chunk = self._encoder.add(record)
        if chunk is not None:
            self._write_chunk(chunk)

    def _write_chunk(self, plaintext: bytes) -> None:
        self._regions.write(plaintext)
        self.stats.chunks = self._regions.chunks
        self.stats.encrypted_bytes = self._regions.bytes

    def _choose(self) -> ChunkFile:
        """Finish the region chunks and, if asked, the source coding; the chunks to keep."""
        last = self._encoder.flush() if self.payload_coding != "source" else None
        if last is not None:
            self._write_chunk(last)
        self.stats.raw_region_bytes = self._encoder.raw_bytes
        if self._source is None:
            return self._regions
        limit = self._regions.bytes if self.payload_coding == "auto" else None
        chunks, reason = self._source.encode(self.content_key, self.stream_id, limit)
        if chunks is None:
            if self.payload_coding == "source":
                from faceveil.errors import UsageError

                raise UsageError(f"--payload-coding source is not possible for this video: {reason}; "
                                 "use --payload-coding regions or auto")
            self.stats.coding_note = f"payload: region coding, {reason}"
            return self._regions
        self.stats.source_bytes = chunks.bytes
        if self.payload_coding == "auto":
            self.stats.coding_note = (f"payload: source coding (the input's compressed video packets, "
                                      f"{self._regions.bytes / max(chunks.bytes, 1):.1f}x smaller than region coding)")
        else:
            self.stats.coding_note = "payload: source coding (the input's compressed video packets)"
        self.stats.coding = SOURCE_CODING  # the region chunks stay until discard(): the fallback
        self.stats.chunks, self.stats.encrypted_bytes = chunks.chunks, chunks.bytes
        return chunks

    @property
    def can_fall_back(self) -> bool:
        """Whether :meth:`fall_back_to_regions` is possible: ``auto`` chose the source coding, and the
        region coding was written alongside."""
        return self.payload_coding == "auto" and self._chosen is not None and self._chosen.coding == SOURCE_CODING

    def fall_back_to_regions(self, reason: str) -> None:
        """The source coding failed the writer's recovery check (pipeline.video_check.recovery_problem):
        the next :meth:`finish` writes the region coding instead."""
        if not self.can_fall_back:
            raise ValueError("no region coding to fall back to")
        self._chosen = self._regions
        self.stats.coding = self._regions.coding
        self.stats.chunks, self.stats.encrypted_bytes = self._regions.chunks, self._regions.bytes
        self.stats.coding_note = f"payload: region coding (the source coding failed the recovery check: {reason})"

    def finish(self, destination: BinaryIO, *, recipients, method: str, method_params: dict, frame_shape: tuple[int, int, int],
               tracks: Sequence[dict], extra: dict, keep_scratch: bool = False) -> int:
        """Seal the header and write header + chunks to ``destination``; returns the bytes written.
        ``keep_scratch``: keep the chunk files (for :meth:`fall_back_to_regions` and another finish;
        :meth:`discard` frees them)."""
        if self._chosen is None:
            self._chosen = self._choose()
        chunks = self._chosen
        chunks.close()
        stream = {
            "kind": "video",
            "stream_id": self.stream_id.hex(),
            "frames": self.stats.frames,
            "chunks": chunks.chunks,
            "chunk_frames": self._encoder.chunk_frames,
            "chunks_sha256": chunks.hash.hexdigest(),
            "pixel_digests": self._frames_digest.complete,
            "region_coding": chunks.coding,
        }
        if chunks.coding == SOURCE_CODING:
            stream["source"] = self._source.description()
        if self._bound:  # authenticated with the header: a reader must then check every frame's binding
            stream["binding"] = {"timestamps": True, "signatures": True, "tolerance": BINDING.to_dict()}
        # With a digest for every frame (lossless output), the header's pixel hash covers the whole
        # video, so `inspect` can tell without a key whether the video was modified; otherwise it
        # only binds the header to this payload's chunks.
        pixel_sha256 = (self._frames_digest.digest() if self._frames_digest.complete
                        else hashlib.sha256(b"faceveil/video/v1\x00" + self.stream_id + chunks.hash.digest()).digest())
        header = seal(
            regions=[],
            method=method,
            method_params=method_params,
            image_shape=frame_shape,
            faces=list(tracks),
            pixel_sha256=pixel_sha256,
            recipients=recipients,
            content_key=self.content_key,
            extra={**extra, "video": stream},
        )
        destination.write(_PREAMBLE.pack(VIDEO_MAGIC, chunks.coding, len(header)) + header)
        written = _PREAMBLE.size + len(header) + chunks.copy_to(destination)
        if not keep_scratch:
            self.discard()
        return written

    def discard(self) -> None:
        """Drop the scratch files (safe to call after :meth:`finish`, which already removed them)."""
        self._regions.discard()
        if self._chosen is not None:
            self._chosen.discard()
        if self._recorder is not None:
            self._recorder.discard()


def is_video_payload(prefix: bytes) -> bool:
    return prefix[: len(VIDEO_MAGIC)] == VIDEO_MAGIC


def read_video_header(source: BinaryIO) -> tuple[ContainerInfo, bytes]:
    """Read the clear header (no key needed). Returns (info, header container bytes); leaves
    ``source`` positioned at the first chunk."""
    preamble = source.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size or not is_video_payload(preamble):
        raise PayloadCorruptError("not a faceveil video recovery payload (bad magic or truncated)")
    _, version, header_len = _PREAMBLE.unpack(preamble)
    if version not in _SUPPORTED_VERSIONS:
        raise PayloadCorruptError(f"video payload version {version} is not supported (this faceveil reads "
                                  f"{', '.join(map(str, _SUPPORTED_VERSIONS))})")
    if header_len > 64 * 1024 * 1024:
        raise PayloadCorruptError("video payload header is implausibly large")
    header = source.read(header_len)
    if len(header) != header_len:
        raise PayloadCorruptError("video payload is truncated inside its header")
    info = read_info(header)
    stream = info.extra.get("video")
    if not isinstance(stream, dict) or stream.get("kind") != "video":
        raise PayloadCorruptError("recovery payload header does not describe a video")
    if stream.get("region_coding", 1) != version:  # the writer writes the coding into both
        raise PayloadCorruptError(f"video payload version {version} does not match its header's coding "
                                  f"{stream.get('region_coding')!r}")
    return info, header


@dataclass
class OpenedVideoPayload:
    info: ContainerInfo
    content_key: ContentKey
    stream: dict = field(default_factory=dict)

    @property
    def region_coding(self) -> int:
        """1 for version-1 payloads (no ``region_coding`` in their header), else what the header says."""
        coding = self.stream.get("region_coding", 1)
        if coding not in _SUPPORTED_VERSIONS:
            raise PayloadCorruptError(f"video payload region coding {coding!r} is not supported")
        return int(coding)


def open_video_payload(source: BinaryIO, identities, *, decode_source=None,
                       content_key: ContentKey | None = None) -> tuple[OpenedVideoPayload, Iterator[FrameRecord]]:
    """Unlock the header with ``identities`` (WrongKeyError / TamperedPayloadError) and return the
    frame records as a lazy iterator that authenticates chunk by chunk and, at the end, checks the
    chunk count and hash the header promised (TamperedPayloadError / PayloadCorruptError).

    ``decode_source(plaintexts, stream, frame_shape)``: the reader of source-coded payloads
    (faceveil.pipeline.video_source.decode_source_chunks; ``video_source.open_payload`` passes it; this
    module stays below the decoder). ``content_key``: open with the known content key instead of
    ``identities`` (the writer verifying its own output before keeping it)."""
    info, header = read_video_header(source)
    opened = open_container(header, identities) if content_key is None else open_container_with_key(header, content_key)
    stream = info.extra["video"]
    try:
        stream_id = bytes.fromhex(stream["stream_id"])
        expected_chunks = int(stream["chunks"])
        expected_hash = bytes.fromhex(stream["chunks_sha256"])
    except (KeyError, TypeError, ValueError):
        raise PayloadCorruptError("video payload header lacks its stream description") from None
    payload = OpenedVideoPayload(info=info, content_key=opened.content_key, stream=stream)
    if payload.region_coding == SOURCE_CODING and decode_source is None:
        raise PayloadCorruptError("a source-coded video payload needs faceveil.pipeline.video_source.open_payload")
    return payload, _iter_records(source, payload, stream_id, expected_chunks, expected_hash, decode_source)


def _iter_records(source: BinaryIO, payload: OpenedVideoPayload, stream_id: bytes, expected_chunks: int,
                  expected_hash: bytes, decode_source=None) -> Iterator[FrameRecord]:
    shape = tuple(payload.info.image_shape)
    coding = payload.region_coding
    plaintexts = _iter_plaintexts(source, payload, stream_id, expected_chunks, expected_hash, coding)
    if coding == SOURCE_CODING:
        yield from decode_source(plaintexts, payload.stream, shape)
        return
    for plaintext in plaintexts:
        yield from decode_chunk(plaintext, shape, coding)


def _iter_plaintexts(source: BinaryIO, payload: OpenedVideoPayload, stream_id: bytes, expected_chunks: int,
                     expected_hash: bytes, coding: int) -> Iterator[bytes]:
    """Authenticated chunk plaintexts in order; after the last, the chunk count and hash check."""
    digest = hashlib.sha256()
    for index in range(expected_chunks):
        framed_len = source.read(_CHUNK_LEN.size)
        if len(framed_len) != _CHUNK_LEN.size:
            raise PayloadCorruptError(f"video payload is truncated: chunk {index} of {expected_chunks} is missing")
        (length,) = _CHUNK_LEN.unpack(framed_len)
        if length > MAX_CHUNK_BYTES:
            raise PayloadCorruptError(f"video payload chunk {index} declares an implausible size")
        ciphertext = source.read(length)
        if len(ciphertext) != length:
            raise PayloadCorruptError(f"video payload is truncated inside chunk {index}")
        digest.update(framed_len + ciphertext)
        try:
            plaintext = open_once(_chunk_key(payload.content_key, stream_id, index, coding), ciphertext,
                                  _chunk_aad(stream_id, index, coding))
        except AuthenticationFailed:
            raise TamperedPayloadError(f"the video recovery payload was altered: chunk {index} fails authentication") from None
        yield plaintext
    if source.read(1):
        raise TamperedPayloadError("the video recovery payload has extra data after its last chunk")
    if digest.digest() != expected_hash:
        raise TamperedPayloadError("the video recovery payload's chunks do not match its header")
