"""Video decode/encode with PyAV: streaming frames, exact timestamps, rotation, audio pass-through.

Everything here streams: :func:`iter_frames` is a generator over decoded frames and
:class:`VideoWriter` encodes and muxes as it goes, so memory stays bounded by one frame plus the
encoder's look-ahead, whatever the video length.

Conventions
- Frames are RGB ``(H, W, 3)`` uint8 in *stored* orientation (as coded). ``VideoInfo.rotation`` is the
  display-matrix rotation; :func:`to_display` / :func:`from_display` turn frames upright and back
  (lossless ``np.rot90``), so detection sees upright faces while the output keeps the original
  orientation metadata.
- Timestamps are integer ``pts`` in the video stream's ``time_base``; the writer keeps them, so
  variable frame rate and non-zero start times survive. With a time span (``start``/``end``) output
  timestamps are shifted so the span starts at 0.
- Audio is remuxed packet for packet (no re-encoding) and interleaved with video by time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from faceveil.errors import InputError, UsageError

log = logging.getLogger(__name__)

# Output container formats we write, by file extension.
_FORMAT_BY_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}

# Default lossy codec per container, and the lossless codec/pixel format that round-trips RGB exactly.
# (x264 in yuv444p is *not* exact for RGB input: the RGB->YUV conversion itself rounds.)
_LOSSY_DEFAULT = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9"}
_LOSSLESS = {
    "matroska": ("ffv1", "bgr0", {"level": "3", "slicecrc": "1"}),
    "mov": ("libx264rgb", "rgb24", {"qp": "0", "preset": "veryfast"}),
    "mp4": ("libx264rgb", "rgb24", {"qp": "0", "preset": "veryfast"}),
    "webm": ("libvpx-vp9", "gbrp", {"lossless": "1", "deadline": "good", "cpu-used": "4", "row-mt": "1"}),
}
_EXACT_RGB_PIX_FMTS = frozenset({"bgr0", "rgb24", "bgr24", "gbrp", "rgba", "bgra"})


@dataclass(frozen=True)
class TimeSpan:
    """Seconds ``[start, end)`` of the input to process; ``None`` = from the beginning / to the end."""

    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.start < 0:
            raise UsageError(f"--start must be >= 0 seconds, got {self.start}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise UsageError(f"--end ({self.end}) must be after --start ({self.start})")

    @property
    def offset(self) -> float:
        """Seconds subtracted from input timestamps so the output starts at 0 (0 without a start)."""
        return self.start or 0.0

    def contains(self, t: float) -> bool:
        return (self.start is None or t >= self.start - 1e-9) and (self.end is None or t < self.end - 1e-9)


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file. ``width``/``height`` are the stored size."""

    path: Path
    format_name: str
    video_codec: str
    width: int
    height: int
    fps: Fraction  # average frame rate (or guessed); only advisory for VFR input
    time_base: Fraction
    start_pts: int  # pts of the first decodable frame (in time_base)
    duration_s: float | None
    frame_count: int | None  # as declared by the container; None if unknown
    rotation: int  # display rotation, degrees counter-clockwise, one of 0, 90, 180, -90
    audio: tuple[AudioStreamInfo, ...] = ()
    attachments: tuple[str, ...] = ()

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown to viewers, i.e. after rotation."""
        return (self.height, self.width) if self.rotation in (90, -90) else (self.width, self.height)


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame. ``rgb``: (H, W, 3) uint8 in stored orientation."""

    index: int  # position within the processed span, 0-based
    pts: int  # input timestamp in ``time_base`` units
    time_base: Fraction
    rgb: np.ndarray

    @property
    def time(self) -> float:
        return float(self.pts * self.time_base)


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode the output video stream.

    codec: FFmpeg encoder name (``libx264``, ``libx265``, ``libvpx-vp9``, ``ffv1``...); None = container default.
    crf: constant rate factor for x264/x265/vp9 (lower = better); ignored when lossless.
    lossless: encode so decoded RGB frames equal the frames we wrote, bit for bit (see ``_LOSSLESS``).
    preset: x264/x265 speed preset.
    keep_audio: remux the input's audio streams unchanged.
    transcode_audio: re-encode audio to Opus when the output container cannot hold its codec (AAC in
        WebM); when False such input is refused instead.
    """

    codec: str | None = None
    crf: int | None = 18
    lossless: bool = False
    preset: str = "fast"
    keep_audio: bool = True
    transcode_audio: bool = True
    extra_options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise UsageError(f"--crf must be between 0 and 63, got {self.crf}")


# --------------------------------------------------------------------------------------------- reading


_codec_threads = 0  # FFmpeg threads per decoder / encoder; 0: FFmpeg's own choice (every core)


def set_codec_threads(n: int | None) -> None:
    """``--threads`` for video decoding and encoding, process-wide like ``cv2.setNumThreads`` (None or 0:
    FFmpeg's default)."""
    global _codec_threads
    _codec_threads = max(0, int(n or 0))


def codec_threads() -> int:
    return _codec_threads


def _open_input(path: str | os.PathLike) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({_ffmpeg_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container


def _ffmpeg_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read stream parameters and decode the first frame (to learn the rotation and check the codec).

    Raises InputError for missing, non-video, corrupt or undecodable files.
    """
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        if stream.time_base is None:
            raise InputError(f"{path}: video stream has no time base")
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise InputError(f"{path}: cannot determine the frame rate")
        first = _first_frame(path, container, stream)
        duration = None
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        audio = tuple(
            AudioStreamInfo(a.index, a.codec_context.name, a.codec_context.sample_rate or 0, a.codec_context.channels or 0)
            for a in container.streams.audio
        )
        attachments = tuple(a.name or "" for a in container.streams.attachments)
        return VideoInfo(
            path=path,
            format_name=container.format.name,
            video_codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(fps),
            time_base=Fraction(stream.time_base),
            start_pts=first.pts if first.pts is not None else 0,
            duration_s=duration,
            frame_count=stream.frames or None,
            rotation=_normalise_rotation(first.rotation),
            audio=audio,
            attachments=attachments,
        )


def _first_frame(path: Path, container, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: corrupt video ({_ffmpeg_reason(exc)})") from None
    raise InputError(f"{path}: video stream has no decodable frames")


def _normalise_rotation(degrees: float | int | None) -> int:
    if not degrees:
        return 0
    quarter = int(round(float(degrees) / 90.0)) % 4
    return {0: 0, 1: 90, 2: 180, 3: -90}[quarter]


def to_display(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Stored-orientation frame (H, W, C) -> upright frame as viewers see it (rotation applied)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def from_display(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Inverse of :func:`to_display`."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, -k)) if k else rgb


def iter_frames(path: str | os.PathLike, span: TimeSpan = TimeSpan()) -> Iterator[VideoFrame]:
    """Decode the video stream of ``path`` frame by frame (a generator: bounded memory).

    Frames whose timestamp lies outside ``span`` are skipped (the decoder seeks to the key frame
    before ``span.start`` first). A stream that breaks off mid-way raises InputError naming the frame.
    """
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threading: decoding is often the bottleneck at 1080p
        if _codec_threads:
            stream.thread_count = _codec_threads
        time_base = Fraction(stream.time_base)
        _seek_to_span(container, stream, span)
        declared_end = _declared_video_end(stream)
        index, last_end, previous, longest = 0, None, None, 0.0
        frame_interval = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue  # undecodable timestamp-less frame; muxers cannot place it either
                t = float(frame.pts * time_base)
                if span.end is not None and t >= span.end - 1e-9:
                    return
                # a frame lasts its own duration where the container stores one, else the rate's period;
                # without a declared rate (a remuxed MKV), the largest step seen so far
                step = t - previous if previous is not None and not stream.average_rate else 0.0
                previous, longest = t, max(longest, step)
                last_end = t + max(frame_interval, longest, float((frame.duration or 0) * time_base))
                if not span.contains(t):
                    continue
                yield VideoFrame(index=index, pts=frame.pts, time_base=time_base, rgb=frame.to_ndarray(format="rgb24"))
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: corrupt or truncated video after frame {index} ({_ffmpeg_reason(exc)})") from None
        # Demuxers stop quietly at a cut or garbled spot; the declared length tells us frames are missing.
        expected_end = declared_end if span.end is None or declared_end is None else min(declared_end, span.end)
        if expected_end is not None and (last_end or 0.0) < expected_end - (2 * frame_interval + 0.05):
            raise InputError(
                f"{path}: truncated or corrupt video: frames stop at {last_end or 0.0:.2f} s but the file declares "
                f"{expected_end:.2f} s"
            )


def _seek_to_span(container, stream, span: TimeSpan) -> None:
    """Seek to the key frame at or before ``span.start`` (nothing without a start). Shared by
    :func:`iter_frames` and :func:`iter_packets`, so both start at the same packet."""
    if span.start:
        try:
            container.seek(int(span.start / Fraction(stream.time_base)), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            container.seek(0, stream=stream)  # unseekable: decode from the start and skip


# --------------------------------------------------------------------------------------------- packets
# The recovery payload's source coding (pipeline.video_source) stores the input's compressed video
# packets and decodes them again at recovery, with the same conversion to RGB as iter_frames.


@dataclass(frozen=True)
class SourcePacket:
    """One compressed video packet as demuxed (decode order). pts/dts in the stream's time base."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool


@dataclass(frozen=True)
class DecoderParameters:
    """What a decoder needs to decode a stream's packets without its container (codec parameters)."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction
    extradata: bytes = b""
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2

    def to_dict(self) -> dict:
        return {"codec": self.codec, "width": self.width, "height": self.height, "pix_fmt": self.pix_fmt,
                "time_base": str(self.time_base), "extradata": self.extradata.hex(), "color_range": self.color_range,
                "colorspace": self.colorspace, "color_primaries": self.color_primaries, "color_trc": self.color_trc}

    @classmethod
    def from_dict(cls, d: dict) -> DecoderParameters:
        """ValueError / KeyError / TypeError on a malformed description (the caller names the file)."""
        pix_fmt = d["pix_fmt"]
        params = cls(str(d["codec"]), int(d["width"]), int(d["height"]), None if pix_fmt is None else str(pix_fmt),
                     Fraction(d["time_base"]), bytes.fromhex(d["extradata"]), int(d["color_range"]),
                     int(d["colorspace"]), int(d["color_primaries"]), int(d["color_trc"]))
        if not (0 < params.width <= 1 << 16 and 0 < params.height <= 1 << 16) or params.time_base <= 0:
            raise ValueError("implausible decoder parameters")
        return params


def decoder_parameters(path: str | os.PathLike) -> DecoderParameters:
    """The video stream's codec parameters, as its demuxer hands them to the decoder."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        return DecoderParameters(cc.name, cc.width, cc.height, cc.pix_fmt, Fraction(stream.time_base),
                                 bytes(cc.extradata or b""), int(cc.color_range or 0), int(cc.colorspace or 2),
                                 int(cc.color_primaries or 2), int(cc.color_trc or 2))


def iter_packets(path: str | os.PathLike, span: TimeSpan = TimeSpan()) -> Iterator[SourcePacket]:
    """The video stream's packets in decode order, from the one :func:`iter_frames` starts decoding at
    (the key frame at or before ``span.start``) to the end of the file; the caller stops when it has
    what it needs. A generator: one packet in memory."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        _seek_to_span(container, stream, span)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                yield SourcePacket(bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe))
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: corrupt or truncated video ({_ffmpeg_reason(exc)})") from None


def decoder_build() -> str:
    """The PyAV / FFmpeg build that decodes (and converts to RGB) here."""
    version = getattr(av, "ffmpeg_version_info", "?")
    return f"PyAV {av.__version__}, FFmpeg {version}"


class PacketDecoder:
    """Decodes :class:`SourcePacket` s without their container into RGB frames, converted exactly as
    :func:`iter_frames` converts (``to_ndarray(format="rgb24")``). Whether the pixels come out
    bit-identical on another machine depends on its FFmpeg build (YUV→RGB conversion); the caller
    checks digests."""

    def __init__(self, params: DecoderParameters, *, threads: bool = True, timeout_s: float | None = None) -> None:
        """``threads=False``: no frame threading, so each frame comes out as early as the codec allows.
        ``timeout_s``: the watchdog for packets that may be hostile (a recovery payload's): each
        :meth:`decode` runs in a worker thread, and one that has not returned after this many seconds
        raises :class:`DecoderStalledError`; the decoder is then abandoned, never touched or freed again
        (freeing it under a busy thread is what hung PyAV, issue 22)."""
        self._timeout_s = timeout_s
        self._worker: _Worker | None = None
        self._stalled = False
        try:
            context = av.CodecContext.create(params.codec, "r")
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"this FFmpeg build has no {params.codec!r} decoder ({_ffmpeg_reason(exc)})") from None
        try:
            context.width, context.height = params.width, params.height
            if params.pix_fmt:
                context.pix_fmt = params.pix_fmt
            if params.extradata:
                context.extradata = params.extradata
            # as the demuxer would set them (the bitstream's own values, when present, take precedence)
            context.color_range, context.colorspace = params.color_range, params.colorspace
            context.color_primaries, context.color_trc = params.color_primaries, params.color_trc
        except (ValueError, TypeError, OverflowError, av.error.FFmpegError) as exc:
            raise InputError(f"unusable {params.codec} decoder parameters ({exc})") from None
        self._time_base = params.time_base
        if threads:
            context.thread_type = "AUTO"
        else:
            context.thread_count = 1
        self._context = context

    def decode(self, packet: SourcePacket | None) -> list[tuple[int | None, np.ndarray]]:
        """(pts, (H, W, 3) uint8 RGB in stored orientation) of the frames this packet completes;
        ``None`` flushes the decoder. InputError if the packet does not decode."""
        if self._stalled:
            raise DecoderStalledError("the video decoder stalled earlier; it is not used again")
        if self._timeout_s is None:
            return self._decode_now(packet)
        if self._worker is None:
            self._worker = _Worker()
        try:
            return self._worker.run(lambda: self._decode_now(packet), self._timeout_s)
        except DecoderStalledError:
            self._stalled = True
            self._context = None  # dropped, not closed: the stuck call may still be inside it
            raise

    def _decode_now(self, packet: SourcePacket | None) -> list[tuple[int | None, np.ndarray]]:
        if packet is None:
            av_packet = None
        else:
            av_packet = av.Packet(packet.data)
            av_packet.pts, av_packet.dts = packet.pts, packet.dts
            av_packet.time_base = self._time_base
            if packet.keyframe:
                av_packet.is_keyframe = True
        try:
            return [(f.pts, f.to_ndarray(format="rgb24")) for f in self._context.decode(av_packet)]
        except av.error.FFmpegError as exc:
            raise InputError(f"stored video packets do not decode ({_ffmpeg_reason(exc)})") from None


class DecoderStalledError(InputError):
    """A watched decode (:class:`PacketDecoder` with ``timeout_s``, :func:`run_watched`) did not return in time."""


_shared_worker: _Worker | None = None


def run_watched(fn, timeout_s: float):
    """``fn()`` on a watchdog thread: its result, its exception, or DecoderStalledError after ``timeout_s``
    (the stuck worker is then abandoned and the next call gets a new one). For decoders fed with data
    that may be hostile (a recovery payload's FFV1 regions and H.264 track streams)."""
    global _shared_worker
    if _shared_worker is None:
        _shared_worker = _Worker()
    try:
        return _shared_worker.run(fn, timeout_s)
    except DecoderStalledError:
        _shared_worker = None
        raise


class _Worker:
    """One daemon thread that runs calls for a watchdog: the caller waits at most ``timeout`` seconds.
    A stuck call keeps the thread (a daemon, so the process can still exit); the worker is not reused."""

    def __init__(self) -> None:
        import queue
        import threading

        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="faceveil-decode-watchdog", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            fn, done, finished = self._jobs.get()
            try:
                done.append((True, fn()))
            except BaseException as exc:  # handed to the caller
                done.append((False, exc))
            finished.set()

    def run(self, fn, timeout: float):
        import threading

        done: list = []
        finished = threading.Event()
        self._jobs.put((fn, done, finished))
        if not finished.wait(timeout):
            raise DecoderStalledError(f"the video decoder did not return within {timeout:g} s")
        ok, value = done[0]
        if ok:
            return value
        raise value


def _declared_video_end(stream) -> float | None:
    """End time in seconds the container declares for the video stream (MP4 index, Matroska
    DURATION tag), or None if it declares nothing."""
    # Matroska's per-track DURATION tag first: its demuxer fills stream.duration from the whole file, so a
    # short video beside longer audio looked truncated (issue 22)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
    if stream.duration and stream.time_base is not None:
        return float((stream.duration + (stream.start_time or 0)) * stream.time_base)
    return None


def read_attachment(path: str | os.PathLike, name: str) -> bytes | None:
    """Bytes of the Matroska attachment called ``name``, or None if there is none."""
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            for attachment in container.streams.attachments:
                if attachment.name == name:
                    return bytes(attachment.data)
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({_ffmpeg_reason(exc)})") from None
    return None


# --------------------------------------------------------------------------------------------- writing


def output_format(path: str | os.PathLike) -> str:
    """FFmpeg muxer name for an output path, from its extension (InputError if unsupported)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".avi":  # readable, but AVI stores no real timestamps, rotation or B-frame order
        raise InputError(f"{path}: AVI output is not supported (it cannot keep timestamps or rotation); write .mkv or .mp4")
    if suffix not in _FORMAT_BY_SUFFIX:
        raise InputError(f"{path}: unsupported video output type {suffix!r}; use one of {', '.join(sorted(_FORMAT_BY_SUFFIX))}")
    return _FORMAT_BY_SUFFIX[suffix]


def supports_attachments(path: str | os.PathLike) -> bool:
    return output_format(path) == "matroska"


@dataclass(frozen=True)
class _CodecChoice:
    codec: str
    pix_fmt: str
    options: dict[str, str]
    lossless: bool


def _declare_frame_rate(codec: str, opts: dict[str, str]) -> dict[str, str]:
    """x264 treats input as variable-rate by default and then writes the codec time base (1/12800 for
    a typical MP4 input) into the H.264 VUI as the frame rate, so players and probes saw 12,800 fps.
    force-cfr makes it declare the stream's frame rate (the encoder's ``framerate``, set from the input's
    average rate) instead; timestamps still pass through unchanged, so VFR timing is kept in the container."""
    if codec not in ("libx264", "libx264rgb"):
        return opts
    params = [p for p in opts.get("x264-params", "").split(":") if p and not p.startswith("force-cfr")]
    return {**opts, "x264-params": ":".join([*params, "force-cfr=1"])}


# encoders that only code losslessly: given RGB they are exact, so they always get an RGB pixel format
# (FFV1 in yuv420p was off by up to 14 levels in the face regions: issue 22)
_LOSSLESS_ONLY = frozenset({"ffv1", "utvideo", "png", "rawvideo", "huffyuv", "ffvhuff"})


def _choose_codec(fmt: str, options: EncodeOptions, width: int, height: int) -> _CodecChoice:
    if not options.lossless and (options.codec in _LOSSLESS_ONLY or (options.codec == "libx264rgb" and options.crf == 0)):
        options = replace(options, lossless=True)  # x264rgb at CRF 0 is its lossless mode, as qp 0
    if options.lossless and options.codec is None:
        codec, pix_fmt, opts = _LOSSLESS[fmt]
        return _CodecChoice(codec, pix_fmt, _declare_frame_rate(codec, {**opts, **options.extra_options}), True)
    codec = options.codec or _LOSSY_DEFAULT[fmt]
    try:
        encoder = av.codec.Codec(codec, "w")
    except (av.error.FFmpegError, ValueError):
        raise UsageError(f"unknown video encoder {codec!r}") from None
    if encoder.type != "video":
        raise UsageError(f"{codec!r} is not a video encoder")
    supported = [f.name for f in (encoder.video_formats or [])]
    opts: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        opts["preset"] = options.preset
    if codec.startswith("libvpx"):
        opts.update({"deadline": "good", "cpu-used": "4", "row-mt": "1", "b": "0"})
    if options.lossless:
        pix_fmt = next((p for p in ("bgr0", "gbrp", "rgb24", "bgr24") if p in supported), None)
        if pix_fmt is None:
            raise InputError(f"encoder {codec!r} has no RGB pixel format, so it cannot be lossless for RGB frames; use ffv1")
        if codec == "libx264rgb":
            opts["qp"] = "0"
        elif codec == "libx265":
            opts["x265-params"] = "lossless=1"
        elif codec.startswith("libvpx"):
            opts["lossless"] = "1"
        elif codec not in ("ffv1", "utvideo", "png", "rawvideo"):
            raise InputError(f"encoder {codec!r} has no lossless mode faceveil knows; use ffv1 (MKV) or libx264rgb")
    else:
        # 4:2:0 needs even dimensions; odd-sized input keeps full chroma instead of being cropped.
        even = width % 2 == 0 and height % 2 == 0
        preferred = ("yuv420p",) if even else ("yuv444p",)
        pix_fmt = next((p for p in (*preferred, "yuv444p", "yuv420p", "bgr0", "rgb24") if p in supported), None)
        if pix_fmt is None:
            pix_fmt = supported[0] if supported else "yuv420p"
        if options.crf is not None and (codec in ("libx264", "libx264rgb", "libx265") or codec.startswith("libvpx")):
            opts["crf"] = str(options.crf)
    opts.update(options.extra_options)
    return _CodecChoice(codec, pix_fmt, _declare_frame_rate(codec, opts), options.lossless)


class VideoWriter:
    """Encode RGB frames into ``path``, remuxing the audio of ``source`` alongside.

    Use as a context manager; call :meth:`write` with frames in presentation order. Audio packets of
    the source are copied (not re-encoded) and interleaved by time, so memory stays bounded. Output
    frame timestamps are the input ``pts`` minus the span offset, in the input time base, so frame
    rate, VFR timing and frame count are preserved.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        options: EncodeOptions = EncodeOptions(),
        span: TimeSpan = TimeSpan(),
        *,
        audio_source: str | os.PathLike | None = None,
        container_format: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """``tags``: container-level metadata to write (e.g. the payload's stream id, see :func:`container_tag`)."""
        self.path = Path(path)
        self.info = info
        self.span = span
        self.options = options
        self.transcoded_audio: list[str] = []  # codecs of input audio streams re-encoded to Opus
        fmt = container_format or output_format(self.path)
        self.choice = _choose_codec(fmt, options, info.width, info.height)
        self._offset_pts = int(round(Fraction(span.offset) / info.time_base)) if span.offset else 0
        # MP4/MOV keep custom tags only when asked to (use_metadata_tags); Matroska always does
        open_options = {"movflags": "use_metadata_tags"} if tags and fmt in ("mp4", "mov") else {}
        self._container = av.open(str(self.path), mode="w", format=fmt, options=open_options)
        for key, value in (tags or {}).items():
            self._container.metadata[key] = value
        try:
            self._video = self._add_video_stream()
            self._audio_pairs = []
            self._audio_demux = None
            if options.keep_audio and info.audio:
                self._open_audio(Path(audio_source or info.path), fmt)
        except BaseException:
            self._container.close()
            raise
        self.frames_written = 0
        self.audio_packets_written = 0

    # -- setup

    def _add_video_stream(self):
        choice, info = self.choice, self.info
        try:
            stream = self._container.add_stream(choice.codec, rate=info.fps, options=choice.options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"cannot encode with {choice.codec!r} into {self.path.suffix}: {_ffmpeg_reason(exc)}") from None
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = choice.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base  # exact input timestamps (VFR, start offsets)
        stream.codec_context.framerate = info.fps  # the rate encoders declare in the bitstream
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        stream.thread_type = "AUTO"
        if _codec_threads:
            stream.thread_count = _codec_threads
        try:  # open the encoder now: a hardware encoder without its device fails here, before any work
            stream.codec_context.open()
        except (av.error.FFmpegError, ValueError) as exc:
            hint = " (hardware encoders need their GPU and driver; use libx264 / libx265 / libvpx-vp9)" if any(
                h in choice.codec for h in ("nvenc", "qsv", "vaapi", "amf", "videotoolbox", "v4l2m2m")) else ""
            raise InputError(f"cannot start the {choice.codec!r} encoder: {_ffmpeg_reason(exc)}{hint}") from None
        return stream

    def _open_audio(self, source: Path, fmt: str) -> None:
        self._audio_demux = av.open(str(source), mode="r", metadata_errors="replace")
        in_streams = list(self._audio_demux.streams.audio)
        for in_stream in in_streams:
            if _container_accepts(self._container, fmt, in_stream.codec_context.name):
                out_stream = self._container.add_stream_from_template(in_stream)
            elif self.options.transcode_audio:
                out_stream = _OpusTranscoder(self._container, in_stream, self.span.offset)
                self.transcoded_audio.append(in_stream.codec_context.name)
            else:
                self._audio_demux.close()
                raise InputError(
                    f"the {in_stream.codec_context.name} audio of {source.name} cannot be stored in a {self.path.suffix} "
                    "file without re-encoding; choose another output type (.mkv takes any), allow re-encoding "
                    "to Opus, or drop the audio"
                )
            self._audio_pairs.append((in_stream, out_stream))
        if self.span.start:
            try:
                self._audio_demux.seek(int(self.span.start * av.time_base), backward=True)
            except av.error.FFmpegError:
                pass
        self._audio_packets = self._audio_demux.demux(*in_streams)
        self._pending_audio = None
        self._out_by_index = {i.index: o for i, o in self._audio_pairs}

    # -- writing

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one frame. rgb: (H, W, 3) uint8 in stored orientation; pts in ``info.time_base``."""
        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.info.height}, {self.info.width}, 3) uint8, got {rgb.shape} {rgb.dtype}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts - self._offset_pts
        frame.time_base = self.info.time_base
        try:
            self._mux_audio_until(float(frame.pts * self.info.time_base))
            for packet in self._video.encode(frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise self._refusal(exc, f"frame {self.frames_written} (timestamp {pts})") from None
        self.frames_written += 1

    def _refusal(self, exc: Exception, what: str) -> Exception:
        """A clean error for an encoder or muxer that refuses the stream (was an internal error: issue 22's
        property run found shared timestamps in VP9 and MOV outputs); disk errors stay OSError (exit 15)."""
        from faceveil.io.atomic import DISK_ERRNOS

        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return exc
        return InputError(f"cannot write {what} with {self.choice.codec} into a {self.path.suffix} file: "
                          f"{_ffmpeg_reason(exc)} (frames sharing or going back in timestamps: write .mkv)")

    def _mux_audio_until(self, t_out: float | None) -> None:
        """Copy audio packets whose output time is <= t_out (None: all remaining ones)."""
        if self._audio_demux is None:
            return
        while True:
            packet = self._pending_audio
            if packet is None:
                packet = next(self._audio_packets, None)
                if packet is None:
                    return
            if packet.dts is None and packet.pts is None:
                self._pending_audio = None
                continue  # demuxer flush packet
            stamp = packet.pts if packet.pts is not None else packet.dts
            t_in = float(stamp * packet.time_base)
            if self.span.end is not None and t_in >= self.span.end - 1e-9:
                self._pending_audio = None
                self._audio_demux.close()
                self._audio_demux = None
                return
            if t_out is not None and t_in - self.span.offset > t_out:
                self._pending_audio = packet  # keep it for the next video frame
                return
            self._pending_audio = None
            if self.span.start and t_in < self.span.start - 1e-9:
                continue
            target = self._out_by_index[packet.stream.index]
            if isinstance(target, _OpusTranscoder):
                for out_packet in target.transcode(packet):
                    self._container.mux(out_packet)
                continue
            shift = int(round(Fraction(self.span.offset) / Fraction(packet.time_base))) if self.span.offset else 0
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = target
            self._container.mux(packet)
            self.audio_packets_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._video.encode():
                self._container.mux(packet)
            self._mux_audio_until(None)
            for _, target in self._audio_pairs:
                if isinstance(target, _OpusTranscoder):
                    for packet in target.flush():
                        self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise self._refusal(exc, "the last frames") from None
        finally:
            if self._audio_demux is not None:
                self._audio_demux.close()
                self._audio_demux = None
            self._container.close()
            self._container = None

    def abort(self) -> None:
        """Close without flushing and delete the partial file."""
        if self._audio_demux is not None:
            self._audio_demux.close()
        if self._container is not None:
            try:
                self._container.close()
            except av.error.FFmpegError:
                pass
            self._container = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _OpusTranscoder:
    """Re-encodes one audio stream to Opus (48 kHz), for containers that cannot hold its codec."""

    def __init__(self, container, in_stream, offset_s: float) -> None:
        channels = in_stream.codec_context.channels or 2
        layout = "mono" if channels == 1 else "stereo"
        self.stream = container.add_stream("libopus", rate=48000)
        self.stream.layout = layout
        self._decoder = in_stream.codec_context
        self._resampler = av.AudioResampler(format="flt", layout=layout, rate=48000)
        self._shift = int(round(offset_s * 48000))

    def _encode(self, frames) -> list:
        packets = []
        for frame in frames:
            if frame.pts is not None:
                frame.pts -= self._shift
            packets += self.stream.encode(frame)
        return packets

    def transcode(self, packet) -> list:
        packets = []
        for frame in self._decoder.decode(packet):
            packets += self._encode(self._resampler.resample(frame))
        return packets

    def flush(self) -> list:
        packets = []
        for frame in self._decoder.decode(None):
            packets += self._encode(self._resampler.resample(frame))
        packets += self._encode(self._resampler.resample(None))
        return packets + list(self.stream.encode(None))


def _container_accepts(container, fmt: str, codec: str) -> bool:
    """Whether the output ``container`` (muxer ``fmt``) can carry audio ``codec`` without re-encoding."""
    if fmt == "webm":
        return codec in ("opus", "vorbis")  # the WebM spec allows nothing else
    return codec in container.supported_codecs


def container_tag(path: str | os.PathLike, key: str) -> str | None:
    """A container-level metadata tag (case-insensitive: Matroska upper-cases tag names), or None."""
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            return next((v for k, v in container.metadata.items() if k.lower() == key.lower()), None)
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({_ffmpeg_reason(exc)})") from None


def remux_with_attachments(src: str | os.PathLike, dst: str | os.PathLike, attachments: dict[str, bytes]) -> None:
    """Copy every stream of Matroska file ``src`` into ``dst`` unchanged, adding file attachments.

    Needed because Matroska writes attachments in the header, while the recovery payload is only
    known after the last frame. Packets are copied one at a time (bounded memory).
    """
    with av.open(str(src), mode="r") as inp, av.open(str(dst), mode="w", format="matroska") as out:
        for key, value in inp.metadata.items():  # container tags (the payload's stream id) survive the remux
            if key.lower() != "encoder":
                out.metadata[key] = value
        mapping = {}
        for stream in inp.streams:
            if stream.type in ("video", "audio", "subtitle"):
                mapping[stream.index] = out.add_stream_from_template(stream)
                if stream.type == "video" and stream.average_rate:
                    # the template drops the frame rate, and with it Matroska's frame durations: a reader
                    # then took a 1-frame clip's declared 83 ms for a truncated file (issue 22)
                    mapping[stream.index].codec_context.framerate = stream.average_rate
                    mapping[stream.index].time_base = stream.time_base
        rotation = _stream_rotation(src)
        if rotation:
            mapping[inp.streams.video[0].index].set_display_rotation(rotation)
        for name, data in attachments.items():
            out.add_attachment(name, "application/octet-stream", data)
        for packet in inp.demux(*[inp.streams[i] for i in mapping]):
            if packet.dts is None and packet.pts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


def _stream_rotation(path: str | os.PathLike) -> int:
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            return _normalise_rotation(frame.rotation)
    return 0
