"""Video pipeline: tracked, flicker-free, reversible face anonymization with audio kept.

anonymize:  decode (streaming) → turn upright (rotation metadata) → detect → track (stable ids,
            smoothed boxes, bridged gaps) → anonymize every tracked face with its track's seed →
            record the original pixels of every changed rectangle → encode (timestamps kept, audio
            remuxed) → encrypted region stream (faceveil.video_payload) as sidecar and/or MKV attachment.
            Frames are held back ``lookahead`` frames so a face first detected late is covered in
            the frames just before its first detection too.
recover:    find the payload (explicit file, MKV attachment, sidecar) → unlock with the key → decode
            the anonymized video frame by frame, put the original rectangles back → encode. With a
            lossless output codec the recovered frames equal the decoded original frames exactly;
            with a lossy one the face regions are exact and the rest is as decoded (the report says so).

Python API::

    from faceveil.video import anonymize_video, recover_video, VideoOptions
    report = anonymize_video("clip.mp4", "clip.anon.mkv", method="blur", recipients=[PassphraseKey.create("pw")],
                             options=VideoOptions(encode=EncodeOptions(lossless=True)))
    recover_video("clip.anon.mkv", "clip.back.mkv", [PassphraseKey.for_opening("pw")])

Memory is bounded: ``lookahead`` + ``batch_frames`` decoded frames, the encoder's look-ahead and one
payload chunk (~1 s of regions), whatever the video length.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from faceveil.crypto.container import pixel_digest
from faceveil.crypto.envelope import ContentKey
from faceveil.errors import InputError, KeyMaterialError, NoFacesError, OutputExistsError, PayloadMissingError, TamperedPixelsError
from faceveil.faces.track import LookaheadTracker, TrackedFace, TrackerConfig, TrackStats
from faceveil.faces.types import Face
from faceveil.io.carriers import sidecar_path
from faceveil.io.video import (
    EncodeOptions,
    TimeSpan,
    VideoFrame,
    VideoInfo,
    VideoWriter,
    from_display,
    iter_frames,
    output_format,
    probe_video,
    read_attachment,
    remux_with_attachments,
    supports_attachments,
    to_display,
)
from faceveil.methods.base import AnonymizationMethod, FaceContext, create_method
from faceveil.faces.align import align_face, eye_distance, paste_back
from faceveil.pipeline import FaceOutcome, FrameResult, anonymize_frame, changed_regions, restore_regions
from faceveil.video_payload import (
    FrameRecord,
    TrackRegion,
    VideoPayloadWriter,
    VideoPixelDigest,
    open_video_payload,
    read_video_header,
)

PayloadMode = Literal["embedded", "sidecar", "both", "none"]
ATTACHMENT_NAME = "faceveil-recovery.fvv"
# Matroska attachments live in the file header and are read into memory whole (by PyAV and by
# players), so long videos keep their payload in the sidecar instead.
MAX_ATTACHMENT_BYTES = 256 * 2**20


@dataclass(frozen=True)
class VideoOptions:
    """Video-specific settings.

    encode: output codec / CRF / lossless / audio (faceveil.io.video.EncodeOptions).
    span: process only ``[start, end)`` seconds of the input (output timestamps start at 0).
    tracker: association, smoothing and gap bridging (faceveil.faces.track.TrackerConfig).
    payload: where the recovery payload goes; "embedded" = MKV attachment (other containers cannot
        hold one, so a sidecar is written instead and the report says so).
    chunk_seconds: payload chunk length; the unit of memory and of independent decoding.
    lookahead: frames held back so a face first detected late is also covered in the frames just
        before (faceveil.faces.track.LookaheadTracker); costs that many frames of memory.
    batch_frames: aligned (learned) methods process the faces of this many frames in one batch.
    detect_every: full-frame detection every this many frames, cheap re-detection around the known
        faces in between (faceveil.faces.keyframe), for detectors with ``detect_at`` (CenterFace;
        other detector objects run on every frame). Capped at ``lookahead + 1`` so a face appearing
        between key frames is back-filled from its first frame. 1 = full detection every frame.
    """

    encode: EncodeOptions = EncodeOptions()
    span: TimeSpan = TimeSpan()
    tracker: TrackerConfig = TrackerConfig()
    payload: PayloadMode = "both"
    chunk_seconds: float = 1.0
    lookahead: int = 2
    batch_frames: int = 8
    detect_every: int = 3

    def __post_init__(self) -> None:
        if self.payload not in ("embedded", "sidecar", "both", "none"):
            raise InputError(f"payload must be embedded, sidecar, both or none, got {self.payload!r}")
        if not 0.04 <= self.chunk_seconds <= 8:
            raise InputError(f"chunk_seconds must be in [0.04, 8], got {self.chunk_seconds}")
        if not 0 <= self.lookahead <= 64:
            raise InputError(f"lookahead must be in [0, 64] frames, got {self.lookahead}")
        if not 1 <= self.batch_frames <= 256:
            raise InputError(f"batch_frames must be in [1, 256], got {self.batch_frames}")
        if not 1 <= self.detect_every <= 64:
            raise InputError(f"detect_every must be in [1, 64] frames, got {self.detect_every}")


@dataclass(frozen=True)
class VideoProgress:
    """Passed to the progress callback after every frame (for a bar with fps and ETA)."""

    frames_done: int
    frames_total: int | None  # estimate from the container; None if unknown
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.frames_total or self.fps <= 0:
            return None
        return max(self.frames_total - self.frames_done, 0) / self.fps


ProgressCallback = Callable[[VideoProgress], None]


@contextlib.contextmanager
def console_progress(label: str, *, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A rich progress bar (frames, fps, ETA) on stderr for the CLI; yields the callback to pass as
    ``progress=``, or None when disabled (e.g. ``--quiet`` or not a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[fps]:.1f} fps"), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None, fps=0.0)

        def update(p: VideoProgress) -> None:
            bar.update(task, completed=p.frames_done, total=p.frames_total, fps=p.fps)

        yield update


@dataclass
class TrackSummary:
    track_id: int
    first_frame: int
    last_frame: int
    frames: int = 0
    bridged_frames: int = 0
    first_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_dict(cls, d: dict) -> TrackSummary:
        box = d.get("box") or [0.0, 0.0, 0.0, 0.0]
        return cls(int(d.get("track_id", -1)), int(d.get("first_frame", 0)), int(d.get("last_frame", 0)),
                   int(d.get("frames", 0)), int(d.get("bridged_frames", 0)), tuple(float(v) for v in box[:4]))

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "bridged_frames": self.bridged_frames,
            "box": [round(v, 1) for v in self.first_box],
        }


@dataclass
class VideoReport:
    """What happened to one video (``to_dict`` is JSON-able)."""

    input: Path
    output: Path
    method: str | None
    frames: int = 0
    duration_s: float = 0.0
    codec: str = ""
    lossless: bool = False
    audio_streams: int = 0
    tracking: TrackStats = field(default_factory=TrackStats)
    tracks: list[TrackSummary] = field(default_factory=list)
    payload: list[str] = field(default_factory=list)
    payload_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def payload_bytes_per_minute(self) -> float:
        return self.payload_bytes * 60.0 / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def processing_fps(self) -> float:
        total = self.timings.get("total", 0.0)
        return self.frames / total if total > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "method": self.method,
            "frames": self.frames,
            "duration_s": round(self.duration_s, 3),
            "codec": self.codec,
            "lossless": self.lossless,
            "audio_streams": self.audio_streams,
            "tracking": self.tracking.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks],
            "payload": self.payload,
            "payload_bytes": self.payload_bytes,
            "payload_bytes_per_minute": round(self.payload_bytes_per_minute),
            "processing_fps": round(self.processing_fps, 2),
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


# --------------------------------------------------------------------------------------------- anonymize


def track_seed(content_key: ContentKey | None, track_id: int, run_salt: int) -> int:
    """One seed per track for the whole video, so a person keeps one dummy identity / obfuscation.
    Derived from the content key (key holders can re-create it), else from a per-run random salt."""
    if content_key is not None:
        return int.from_bytes(content_key.derive(f"track/{track_id}/seed", 8), "big")
    return int(np.random.SeedSequence([run_salt, track_id]).generate_state(1, dtype=np.uint64)[0])


def track_contexts(faces: Sequence[Face], content_key: ContentKey | None, run_salt: int) -> list[FaceContext]:
    """FaceContexts whose seed and secrets belong to the face's *track*, not its position in the
    frame's face list (which changes from frame to frame)."""
    contexts = []
    for i, face in enumerate(faces):
        track_id = int(face.track_id if face.track_id is not None else -1 - i)
        derive = None
        if content_key is not None:
            derive = (lambda label, n, _t=track_id: content_key.derive(f"track/{_t}/{label}", n))
        contexts.append(FaceContext(face=face, index=i, seed=track_seed(content_key, track_id, run_salt), derive_secret=derive))
    return contexts


def _resolve_method(method: AnonymizationMethod | str) -> AnonymizationMethod:
    return create_method(method) if isinstance(method, str) else method


def _resolve_detector(detector):
    if isinstance(detector, str):
        from faceveil.faces.detect import create_detector

        return create_detector(detector)
    return detector


def _keyframe_hook(detector, every: int):
    """Speed hook (issue 16): full detection every ``every`` frames, windows around known faces between.
    Only for detectors with a single-pass ``detect_at`` (CenterFace); any other detector object is
    called on every frame, as given."""
    if every <= 1 or not callable(getattr(detector, "detect_at", None)):
        return detector
    from faceveil.faces.keyframe import KeyframeConfig, KeyframeDetector

    return KeyframeDetector(detector, KeyframeConfig(every=every))


def _check_destination(src: Path, dst: Path, overwrite: bool, protect: Iterable[Path]) -> None:
    output_format(dst)  # validates the extension
    if not dst.parent.is_dir():
        raise InputError(f"cannot write {dst}: directory {dst.parent} does not exist")
    protected = {Path(p).resolve() for p in protect} | {src.resolve()}
    if dst.resolve() in protected:
        raise OutputExistsError(f"{dst} is an input; refusing to overwrite it")
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst} already exists; refusing to overwrite it (use --overwrite)")


def _upright_shape(info: VideoInfo) -> tuple[int, int, int]:
    """(H, W, 3) of frames turned upright: the shape detection, methods and the payload work in."""
    width, height = info.display_size
    return height, width, 3


def _span_frames_estimate(info: VideoInfo, span: TimeSpan) -> int | None:
    if info.duration_s is None:
        return info.frame_count
    start = span.start or 0.0
    end = min(span.end, info.duration_s) if span.end is not None else info.duration_s
    return max(int(round((end - start) * float(info.fps))), 0)


class _Scratch:
    """Temporary files next to the output (same filesystem, so the final rename is atomic)."""

    def __init__(self, dst: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))

    def path(self, name: str) -> Path:
        return self.dir / name

    def cleanup(self) -> None:
        for p in self.dir.iterdir():
            p.unlink(missing_ok=True)
        self.dir.rmdir()


def anonymize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    method: AnonymizationMethod | str = "mosaic",
    detector="centerface",
    recipients: Sequence = (),
    options: VideoOptions = VideoOptions(),
    overwrite: bool = False,
    protect: Iterable[Path] = (),
    require_faces: bool = False,
    progress: ProgressCallback | None = None,
) -> VideoReport:
    """Anonymize every face of a video into ``dst`` (.mp4, .mkv, .mov, .webm), reversibly.

    method: a method name or instance (region methods, or aligned ones such as PRO-Face S / G2Face).
    detector: a detector name or any object with ``detect(rgb (H, W, 3) uint8) -> list[Face]``.
    recipients: PassphraseKey / X25519Recipient list that can open the payload; required unless
        ``options.payload == "none"`` (irreversible).
    Raises InputError (bad input/options), OutputExistsError, KeyMaterialError, NoFacesError.
    """
    src, dst = Path(src), Path(dst)
    t_start = time.perf_counter()
    info = probe_video(src)
    _check_destination(src, dst, overwrite, protect)
    if _payload_places(options.payload, dst)[1] and sidecar_path(dst).exists() and not overwrite:
        raise OutputExistsError(f"{sidecar_path(dst)} already exists; refusing to overwrite it (use --overwrite)")
    if options.payload != "none" and not recipients:
        raise KeyMaterialError("no key for the recovery payload: give a passphrase or a recipient, or use payload none")
    method_obj = _resolve_method(method)
    detector_obj = _keyframe_hook(_resolve_detector(detector), min(options.detect_every, options.lookahead + 1))
    content_key = ContentKey.generate() if options.payload != "none" else None
    tracker: LookaheadTracker[tuple] = LookaheadTracker(options.tracker, options.lookahead)
    report = VideoReport(input=src, output=dst, method=method_obj.name, audio_streams=len(info.audio) if options.encode.keep_audio else 0)
    total = _span_frames_estimate(info, options.span)
    frame_shape = _upright_shape(info)

    scratch = _Scratch(dst)
    payload_writer = None
    try:
        video_tmp = scratch.path("video" + dst.suffix.lower())
        if content_key is not None:
            chunk_frames = max(1, min(240, int(round(float(info.fps) * options.chunk_seconds))))
            payload_writer = VideoPayloadWriter(scratch.path("chunks.bin"), content_key, chunk_frames)
        with VideoWriter(video_tmp, info, options.encode, options.span, container_format=output_format(dst)) as writer:
            sink = _FrameSink(method_obj, content_key, writer, payload_writer, info.rotation, report, options.batch_frames)
            if progress is not None:
                sink.on_frame = lambda: progress(VideoProgress(report.frames, total, time.perf_counter() - t_start))
            frames = iter_frames(src, options.span)
            while True:
                t = time.perf_counter()
                frame = next(frames, None)
                sink.timings["decode"] += time.perf_counter() - t
                if frame is None:
                    break
                upright = to_display(frame.rgb, info.rotation)
                t = time.perf_counter()
                detections = detector_obj.detect(upright)
                sink.timings["detect"] += time.perf_counter() - t
                for (held_frame, held_upright), tracked in tracker.push(detections, (frame, upright)):
                    sink.process(held_frame, held_upright, tracked)
            for (held_frame, held_upright), tracked in tracker.flush():
                sink.process(held_frame, held_upright, tracked)
            sink.finish()
        if writer.transcoded_audio:
            report.notes.append(f"{output_format(dst)} cannot hold {', '.join(writer.transcoded_audio)} audio: re-encoded to Opus")
        if report.frames == 0:
            raise InputError(f"{src}: no frames in the requested time span")
        if require_faces and tracker.stats.tracks == 0:
            raise NoFacesError(f"{src}: no face found in any frame")
        report.duration_s = report.frames / float(info.fps)
        report.tracking = tracker.stats
        report.tracks = [sink.summaries[k] for k in sorted(sink.summaries)]
        if not report.lossless:
            report.notes.append(f"lossy output ({report.codec}): recovery restores the face regions exactly; "
                                "other pixels stay as decoded. Use lossless for bit-exact recovery.")
        if payload_writer is None:
            report.notes.append("payload none: this anonymization cannot be undone")
            os.replace(video_tmp, dst)
        else:
            t = time.perf_counter()
            _store_payload(payload_writer, video_tmp, dst, scratch, report, info, method_obj, recipients, options, overwrite, frame_shape)
            sink.timings["payload"] += time.perf_counter() - t
        report.timings = {**sink.timings, "total": time.perf_counter() - t_start}
        return report
    finally:
        if payload_writer is not None:
            payload_writer.discard()  # no-op once finished; frees the scratch file after an error
        scratch.cleanup()


class _FrameSink:
    """Anonymizes tracked frames as the look-ahead tracker releases them: method → payload record → encoder.

    Aligned (learned) methods get the faces of ``batch_frames`` consecutive frames in one call, so a
    GPU sees real batches even when each frame holds one face; region methods run frame by frame."""

    def __init__(self, method: AnonymizationMethod, content_key: ContentKey | None, writer: VideoWriter,
                 payload_writer: VideoPayloadWriter | None, rotation: int, report: VideoReport,
                 batch_frames: int = 1) -> None:
        self.method = method
        self.fallback = create_method(method.fallback) if method.space == "aligned" else None
        self.batch_frames = batch_frames if method.space == "aligned" else 1
        self.content_key = content_key
        self.run_salt = int(np.random.SeedSequence().entropy % (1 << 63))  # seeds when there is no key
        self.writer, self.payload_writer, self.rotation, self.report = writer, payload_writer, rotation, report
        self.summaries: dict[int, TrackSummary] = {}
        self.on_frame: Callable[[], None] | None = None  # called after each written frame (progress)
        self.timings = {"decode": 0.0, "detect": 0.0, "anonymize": 0.0, "encode": 0.0, "payload": 0.0}
        self._pending: list[tuple[VideoFrame, np.ndarray, Sequence[TrackedFace]]] = []
        report.codec, report.lossless = writer.choice.codec, writer.choice.lossless

    def process(self, frame: VideoFrame, upright: np.ndarray, tracked: Sequence[TrackedFace]) -> None:
        """frame: decoded frame (stored orientation); upright: (H, W, 3) the same turned for viewing."""
        self._pending.append((frame, upright, tracked))
        if len(self._pending) >= self.batch_frames:
            self.finish()

    def finish(self) -> None:
        """Anonymize and write every pending frame (call once more after the last frame)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        t = time.perf_counter()
        faces = [[tf.face for tf in tracked] for _, _, tracked in pending]
        contexts = [track_contexts(f, self.content_key, self.run_salt) for f in faces]
        results = anonymize_frames([u for _, u, _ in pending], faces, contexts, self.method, self.fallback)
        self.timings["anonymize"] += time.perf_counter() - t
        for (frame, upright, tracked), result in zip(pending, results):
            self._emit(frame, upright, tracked, result)

    def _emit(self, frame: VideoFrame, upright: np.ndarray, tracked: Sequence[TrackedFace], result: FrameResult) -> None:
        _summarise(self.summaries, frame.index, tracked)
        for outcome in result.outcomes:
            if outcome.fallback_reason and not any(outcome.fallback_reason in n for n in self.report.notes):
                self.report.notes.append(f"{outcome.method} used instead of {self.method.name} for some faces "
                                         f"({outcome.fallback_reason})")
        if self.payload_writer is not None:
            t = time.perf_counter()
            self.payload_writer.add(_frame_record(frame.index, upright, result, lossless=self.writer.choice.lossless))
            self.timings["payload"] += time.perf_counter() - t
        t = time.perf_counter()
        self.writer.write(from_display(result.rgb, self.rotation), frame.pts)
        self.timings["encode"] += time.perf_counter() - t
        self.report.frames += 1
        if self.on_frame is not None:
            self.on_frame()


def anonymize_frames(
    frames: Sequence[np.ndarray],
    faces: Sequence[Sequence[Face]],
    contexts: Sequence[Sequence[FaceContext]],
    method: AnonymizationMethod,
    fallback: AnonymizationMethod | None = None,
) -> list[FrameResult]:
    """:func:`faceveil.pipeline.anonymize_frame` for several frames, with ONE ``method.anonymize`` call
    for the aligned crops of all of them (GPU batching across frames).

    frames[k]: (H, W, 3) uint8 upright RGB; faces[k] / contexts[k]: that frame's faces. Faces the model
    cannot take (no landmarks, too small) go through anonymize_frame and its fallback, exactly as
    for photos; aligned faces are cropped from that result, processed together, and pasted back.
    """
    if method.space != "aligned" or len(frames) == 1:
        return [anonymize_frame(f, fa, method, c, fallback=fallback) for f, fa, c in zip(frames, faces, contexts)]
    results, jobs = [], []  # jobs: (frame k, face, context, AlignedFace)
    for k, (rgb, frame_faces, frame_contexts) in enumerate(zip(frames, faces, contexts)):
        # same rule as anonymize_frame; the others take its fallback path
        takes = [f.landmarks is not None and eye_distance(f) >= method.min_eye_distance for f in frame_faces]
        rest = [i for i, ok in enumerate(takes) if not ok]
        result = anonymize_frame(rgb, [frame_faces[i] for i in rest], method, [frame_contexts[i] for i in rest],
                                 fallback=fallback)
        jobs += [(k, frame_faces[i], frame_contexts[i], align_face(result.rgb, frame_faces[i], size=method.crop_size))
                 for i, ok in enumerate(takes) if ok]
        results.append(result)
    if jobs:
        crops = method.anonymize([job[3].crop for job in jobs], [job[2] for job in jobs])
        for (k, face, _, aligned), crop in zip(jobs, crops):
            results[k].rgb, rect = paste_back(results[k].rgb, crop, aligned)
            results[k].outcomes.append(FaceOutcome(face, method.name, rect))
    return results


def _summarise(summaries: dict[int, TrackSummary], index: int, tracked: Sequence[TrackedFace]) -> None:
    for tf in tracked:
        s = summaries.setdefault(tf.track_id, TrackSummary(tf.track_id, index, index, first_box=tf.face.box))
        s.last_frame = index
        s.frames += 1
        s.bridged_frames += tf.bridged


def _frame_record(index: int, upright: np.ndarray, result, *, lossless: bool) -> FrameRecord:
    """Original pixels of the frame's changed rectangles, tagged with their track ids."""
    owned = [(o.face.track_id, o.rect) for o in result.outcomes if o.rect[2] > 0 and o.rect[3] > 0]
    regions = changed_regions(upright, result.rgb, [rect for _, rect in owned])
    track_ids = [int(tid) if tid is not None else -1 for tid, _ in owned] + [-1] * (len(regions) - len(owned))
    return FrameRecord(
        index=index,
        regions=[TrackRegion(tid, r.x, r.y, r.pixels) for tid, r in zip(track_ids, regions)],
        # for lossless outputs the decoded frame will equal result.rgb: bind it, detect tampering
        digest=pixel_digest(result.rgb) if lossless else None,
    )


def _store_payload(writer: VideoPayloadWriter, video_tmp: Path, dst: Path, scratch: _Scratch, report: VideoReport,
                   info: VideoInfo, method: AnonymizationMethod, recipients, options: VideoOptions, overwrite: bool,
                   frame_shape: tuple[int, int, int]) -> None:
    payload_path = scratch.path("payload.fvv")
    with open(payload_path, "wb") as out:
        report.payload_bytes = writer.finish(
            out,
            recipients=recipients,
            method=method.name,
            method_params=method.params(),
            frame_shape=frame_shape,
            tracks=[t.to_dict() for t in report.tracks],
            extra={
                "format": output_format(dst),
                "codec": report.codec,
                "lossless": report.lossless,
                "fps": str(info.fps),
                "rotation": info.rotation,
                "span": [options.span.start, options.span.end],
                "tracking": report.tracking.to_dict(),
            },
        )
    embed, sidecar = _payload_places(options.payload, dst)
    if options.payload == "embedded" and not embed:
        report.notes.append(f"{dst.suffix} files cannot carry attachments: wrote the payload as a sidecar (use .mkv to embed)")
    if embed and report.payload_bytes > MAX_ATTACHMENT_BYTES:
        report.notes.append(f"the {report.payload_bytes / 2**20:.0f} MiB payload is too large to embed "
                            f"(limit {MAX_ATTACHMENT_BYTES // 2**20} MiB): wrote it as a sidecar")
        embed, sidecar = False, True
    if embed:
        final_tmp = scratch.path("final" + dst.suffix.lower())
        remux_with_attachments(video_tmp, final_tmp, {ATTACHMENT_NAME: payload_path.read_bytes()})
        video_tmp = final_tmp
        report.payload.append("embedded")
    if sidecar:
        side = sidecar_path(dst)
        if side.exists() and not overwrite:  # checked up front too; something may have appeared since
            raise OutputExistsError(f"{side} already exists; refusing to overwrite it (use --overwrite)")
        os.replace(payload_path, side)
        report.payload.append(str(side))
    os.replace(video_tmp, dst)


def _payload_places(mode: PayloadMode, dst: Path) -> tuple[bool, bool]:
    """(embed as an MKV attachment, write a sidecar) for a payload mode; only Matroska can embed."""
    if mode == "none":
        return False, False
    embed = mode in ("embedded", "both") and supports_attachments(dst)
    return embed, mode in ("sidecar", "both") or not embed


# --------------------------------------------------------------------------------------------- recover


@contextlib.contextmanager
def _payload_source(src: Path, payload_file: Path | None):
    """Yield (binary stream, where) for the payload: explicit file, MKV attachment, then sidecar."""
    if payload_file is not None:
        if not payload_file.exists():
            raise PayloadMissingError(f"payload file {payload_file} does not exist")
        with open(payload_file, "rb") as f:
            yield f, str(payload_file)
        return
    attached = read_attachment(src, ATTACHMENT_NAME)
    if attached is not None:
        yield io.BytesIO(attached), "embedded"
        return
    side = sidecar_path(src)
    if side.exists():
        with open(side, "rb") as f:
            yield f, str(side)
        return
    raise PayloadMissingError(f"{src}: no recovery payload (no {ATTACHMENT_NAME} attachment, and sidecar {side} is missing)")


def recover_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    identities: Sequence,
    *,
    payload_file: str | os.PathLike | None = None,
    encode: EncodeOptions | None = None,
    overwrite: bool = False,
    protect: Iterable[Path] = (),
    progress: ProgressCallback | None = None,
) -> VideoReport:
    """Restore the original face pixels of an anonymized video into ``dst``.

    encode: output codec; default lossless if the anonymized video was lossless (exact recovery),
        else the container's default lossy codec.
    Raises PayloadMissingError, PayloadCorruptError, WrongKeyError, TamperedPayloadError,
    TamperedPixelsError (the video does not match its payload), InputError, OutputExistsError.
    """
    src, dst = Path(src), Path(dst)
    t_start = time.perf_counter()
    info = probe_video(src)
    _check_destination(src, dst, overwrite, protect)
    with _payload_source(src, Path(payload_file) if payload_file else None) as (stream, where):
        opened, records = open_video_payload(stream, identities)
        header = opened.info
        frame_shape = _upright_shape(info)
        if tuple(header.image_shape) != frame_shape:
            raise TamperedPixelsError(f"{src}: frames are {frame_shape[1]}x{frame_shape[0]} but the payload belongs to a "
                                      f"{header.image_shape[1]}x{header.image_shape[0]} video")
        was_lossless = bool(header.extra.get("lossless"))
        encode = encode or EncodeOptions(lossless=was_lossless)
        report = VideoReport(input=src, output=dst, method=header.method, payload=[where], audio_streams=len(info.audio))
        report.tracking = TrackStats(**{k: v for k, v in header.extra.get("tracking", {}).items()
                                        if k in TrackStats.__dataclass_fields__ and isinstance(v, int)})
        report.tracks = [TrackSummary.from_dict(f) for f in header.faces if isinstance(f, dict)]
        position = stream.tell()  # the records iterator reads on from here
        report.payload_bytes = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        scratch = _Scratch(dst)
        try:
            video_tmp = scratch.path("video" + dst.suffix.lower())
            expected = int(opened.stream.get("frames", 0))
            with VideoWriter(video_tmp, info, encode, container_format=output_format(dst)) as writer:
                report.codec, report.lossless = writer.choice.codec, writer.choice.lossless
                for frame in iter_frames(src):
                    record = next(records, None)
                    if record is None:
                        raise TamperedPixelsError(f"{src}: has more frames than its payload ({expected}); not the video it was made for")
                    upright = to_display(frame.rgb, info.rotation)
                    if record.digest is not None and pixel_digest(upright) != record.digest:
                        raise TamperedPixelsError(f"{src}: frame {frame.index} differs from the anonymized frame the payload "
                                                  "was made for (edited or re-encoded)")
                    restored = restore_regions(upright, [r for r in record.regions])
                    writer.write(from_display(restored, info.rotation), frame.pts)
                    report.frames += 1
                    if progress is not None:
                        progress(VideoProgress(report.frames, expected, time.perf_counter() - t_start))
                if next(records, None) is not None:  # also runs the final chunk-count/hash check
                    raise TamperedPixelsError(f"{src}: has fewer frames ({report.frames}) than its payload ({expected})")
            os.replace(video_tmp, dst)
        finally:
            scratch.cleanup()
    report.duration_s = report.frames / float(info.fps)
    if not was_lossless:
        report.notes.append("the anonymized video is lossy: face regions were restored exactly from the payload; "
                            "the other pixels are as decoded")
    elif not report.lossless:
        report.notes.append("recovered into a lossy codec: the output is not bit-exact")
    report.timings = {"total": time.perf_counter() - t_start}
    return report


def inspect_video_file(path: Path, payload_file: Path | None = None, *, check_pixels: bool = True) -> dict:
    """What a video carries, readable without a key: streams and the payload's public header.

    Same keys as ``faceveil.api.inspect`` for photos; ``faces`` lists the tracks. With
    ``check_pixels`` and a lossless video, every frame is decoded and compared with the digest in the
    header (``pixels_match_payload``); for lossy videos that check is impossible and the value is None.
    """
    info = probe_video(path)
    result: dict = {
        "file": str(path),
        "format": info.format_name,
        "codec": info.video_codec,
        "size": list(info.display_size),
        "fps": float(info.fps),
        "duration_s": info.duration_s,
        "rotation": info.rotation,
        "audio_streams": [a.codec for a in info.audio],
    }
    try:
        with _payload_source(path, payload_file) as (stream, where):
            header, _ = read_video_header(stream)
            size = stream.seek(0, io.SEEK_END)
    except PayloadMissingError:
        return result | {"payload": None}
    video = header.extra.get("video", {})
    pixels_ok = None
    if check_pixels and video.get("pixel_digests"):
        digest = VideoPixelDigest()
        for frame in iter_frames(path):
            digest.add(pixel_digest(to_display(frame.rgb, info.rotation)))
        pixels_ok = digest.frames == video.get("frames") and digest.digest() == header.pixel_sha256
    return result | {
        "payload": where,
        "payload_bytes": size,
        "format_version": header.version,
        "method": header.method,
        "method_params": header.method_params,
        "faces": header.faces,
        "face_count": len(header.faces),
        "regions": video.get("frames"),
        "recipients": header.recipients,
        "created": header.created,
        "pixels_match_payload": pixels_ok,
        "container": header.to_dict(),
    }


# --------------------------------------------------------------------------------------------- api.py adapters


def _file_report(report: VideoReport):
    from faceveil.api import FileReport

    return FileReport(
        input=report.input,
        output=report.output,
        faces=[t.to_dict() for t in report.tracks],
        method=report.method,
        payload=report.payload,
        notes=report.notes + [
            f"video: {report.frames} frames, {report.tracking.tracks} tracks, {report.tracking.frames_with_faces} frames "
            f"with faces, {report.tracking.bridged_frames} bridged frames; payload {report.payload_bytes_per_minute / 1e6:.1f} "
            f"MB/min; {report.processing_fps:.1f} fps"
        ],
        timings=report.timings,
    )


def anonymize_video_file(anonymizer, src: Path, dst: Path, *, overwrite: bool = False, protect: Iterable[Path] = (),
                         options: VideoOptions | None = None, progress: ProgressCallback | None = None):
    """``faceveil.api`` entry point: anonymize with an ``api.Anonymizer``'s method, detector and recipients."""
    options = options or VideoOptions(payload=anonymizer.payload)
    report = anonymize_video(src, dst, method=anonymizer.method, detector=anonymizer.detector,
                             recipients=anonymizer.recipients, options=options, overwrite=overwrite, protect=protect,
                             require_faces=anonymizer.require_faces, progress=progress)
    return _file_report(report)


def recover_video_file(src: Path, dst: Path, identities: Sequence, *, overwrite: bool = False, protect: Iterable[Path] = (),
                       payload_file: Path | None = None, encode: EncodeOptions | None = None,
                       progress: ProgressCallback | None = None):
    """``faceveil.api`` entry point for ``faceveil recover`` on a video."""
    return _file_report(recover_video(src, dst, identities, payload_file=payload_file, encode=encode,
                                      overwrite=overwrite, protect=protect, progress=progress))


# --------------------------------------------------------------------------------------------- synthetic clips


@dataclass(frozen=True)
class SyntheticClip:
    """A short generated video: a real face (skimage's astronaut) moving over a moving background.

    Used by tests, the benchmark and demos. ``face_boxes[i]`` is the (x0, y0, x1, y1) where the face
    image was pasted in frame i, in display orientation.
    """

    path: Path
    frames: int
    fps: int
    face_boxes: list[tuple[int, int, int, int]]


def _astronaut_face(height: int) -> np.ndarray:
    """The astronaut's head and shoulders resized to ``height`` rows: (height, w, 3) uint8."""
    import cv2
    import skimage.data

    crop = skimage.data.astronaut()[20:230, 140:310]  # head with some margin
    width = int(round(crop.shape[1] * height / crop.shape[0]))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def synthetic_frames(
    size: tuple[int, int], count: int, face_height: int, *, noise: float = 0.0, seed: int = 7, moving: bool = True
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """``count`` upright RGB frames (H, W, 3) uint8 of display ``size`` (W, H) and the pasted face boxes.

    The background is a fixed random texture scrolling 2 px per frame; the face sweeps left to right
    at sub-pixel positions, bobs vertically and breathes in scale (+-5 %), so tracking and the region
    payload see real motion. ``noise`` adds Gaussian sensor noise (std in grey levels) to every frame.
    ``moving=False`` keeps the face still in the middle (background still scrolls).
    """
    import cv2

    width, height = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(40, 200, size=(height // 8 + 1, (width + 2 * count) // 8 + 1, 3), dtype=np.uint8)
    texture = cv2.resize(texture, (texture.shape[1] * 8, texture.shape[0] * 8), interpolation=cv2.INTER_LINEAR)
    face = _astronaut_face(face_height)
    fh, fw = face.shape[:2]
    frames, boxes = [], []
    for i in range(count):
        frame = texture[:height, 2 * i : 2 * i + width].copy()
        scale = 1.0 + 0.05 * np.sin(i / 5) if moving else 1.0
        x = 10 + (width - fw * 1.05 - 20) * i / max(count - 1, 1) if moving else (width - fw) / 2
        y = (height - fh * scale) / 2 + (0.1 * height * np.sin(i / 4) if moving else 0.0)
        matrix = np.array([[scale, 0, x], [0, scale, y]], dtype=np.float64)
        mask = cv2.warpAffine(np.ones((fh, fw), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
        warped = cv2.warpAffine(face, matrix, (width, height), flags=cv2.INTER_LINEAR)
        blended = frame * (1 - mask[..., None]) + warped * mask[..., None]
        if noise > 0:
            blended = blended + rng.normal(0, noise, size=blended.shape)
        frames.append(np.clip(np.rint(blended), 0, 255).astype(np.uint8))
        boxes.append((int(x), int(y), int(np.ceil(x + fw * scale)), int(np.ceil(y + fh * scale))))
    return frames, boxes


def write_synthetic_clip(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] = (320, 240),
    seconds: float = 1.0,
    fps: int = 25,
    face_height: int = 110,
    rotation: int = 0,
    codec: str | None = None,
    audio_codec: str | None = "aac",
    noise: float = 0.0,
    crf: int = 23,
    moving: bool = True,
) -> SyntheticClip:
    """Write a generated clip with a moving face and (optionally) a 440 Hz sine audio track.

    ``size`` is the display size (W, H); with ``rotation`` (display-matrix degrees) the frames are
    stored rotated the other way, as phones do, so a correct reader shows them upright.
    """
    path = Path(path)
    count = max(1, int(round(seconds * fps)))
    frames, boxes = synthetic_frames(size, count, face_height, noise=noise, moving=moving)
    suffix = path.suffix.lower()
    codec = codec or ("libvpx-vp9" if suffix == ".webm" else "libx264")
    with av.open(str(path), mode="w") as out:
        stored_h, stored_w = from_display(frames[0], rotation).shape[:2]
        options = {"libx264": {"preset": "ultrafast", "crf": str(crf)}, "libvpx-vp9": {"deadline": "realtime"}}.get(codec, {})
        video = out.add_stream(codec, rate=fps, options=options)
        formats = [f.name for f in video.codec_context.codec.video_formats or []]
        even = stored_w % 2 == 0 and stored_h % 2 == 0
        video.width, video.height = stored_w, stored_h
        video.pix_fmt = "yuv420p" if even and "yuv420p" in formats else ("yuv444p" if "yuv444p" in formats else formats[0])
        if rotation:
            video.set_display_rotation(rotation)
        audio = None
        if audio_codec:
            audio = out.add_stream(audio_codec, rate=48000 if audio_codec == "libopus" else 16000)
            audio.layout = "mono"
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(from_display(frame, rotation), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for packet in video.encode(vf):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            _write_sine(out, audio, seconds=count / fps)
    return SyntheticClip(path=path, frames=count, fps=fps, face_boxes=boxes)


def _write_sine(out, stream, *, seconds: float, hz: float = 440.0) -> None:
    rate = stream.codec_context.sample_rate
    samples = (0.3 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    chunk = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    for start in range(0, len(samples), chunk):
        part = samples[start : start + chunk]
        if fmt == "s16":
            data = (part * 32767).astype(np.int16)[None, :]
        else:  # planar float (aac, opus)
            data = part[None, :]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
