"""Video pipeline: tracked, flicker-free, reversible face anonymization with audio kept.

anonymize:  decode (streaming) → turn upright (rotation metadata) → detect → track (stable ids,
            smoothed boxes, bridged gaps) → anonymize every tracked face with its track's seed →
            record the original pixels of every changed rectangle → encode (timestamps kept, audio
            remuxed) → encrypted region stream (pipeline.video_payload) as sidecar and/or MKV attachment.
            Frames are held back ``lookahead`` frames so a face first detected late is covered in
            the frames just before its first detection too.
recover:    find the payload (explicit file, MKV attachment, sidecar) → unlock with the key → decode
            the anonymized video frame by frame, put the original rectangles back → encode, losslessly
            by default. From a lossless anonymized video the recovered frames equal the decoded
            original frames exactly; from a lossy one the face regions are exact and the rest is as
            decoded. A lossy ``encode`` re-encodes the restored faces too (the report says so).

Python API::

    from faceveil.pipeline.video import anonymize_video, recover_video, VideoOptions
    report = anonymize_video("clip.mp4", "clip.anon.mkv", method="blur", recipients=[PassphraseKey.create("pw")],
                             options=VideoOptions(encode=EncodeOptions(lossless=True)))
    recover_video("clip.anon.mkv", "clip.back.mkv", [PassphraseKey.for_opening("pw")])

Memory is bounded: ``lookahead`` + ``batch_frames`` decoded frames (up to ``tracker.confirm_hold`` more
while a possible false alarm waits for its decision, faces.track), the encoder's look-ahead and one
payload chunk (~1 s of regions), whatever the video length. ``--keep``/``--only`` (faces.select) add a
first pass over the video that decides per track (pipeline.select.TrackVotes).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path


from faceveil.crypto.envelope import ContentKey
from faceveil.errors import (InputError, KeyMaterialError, NoFacesError, OutputExistsError, OutputWriteError,
                             TamperedPixelsError, UsageError)
from faceveil.faces.detect import create_detector
from faceveil.faces.track import LookaheadTracker, TrackerConfig, TrackStats
from faceveil.io.atomic import DISK_ERRNOS, atomic_move, restrict_permissions
from faceveil.io.carriers import sidecar_path
from faceveil.io.video import (
    EncodeOptions,
    TimeSpan,
    VideoInfo,
    VideoWriter,
    from_display,
    iter_frames,
    output_format,
    probe_video,
    to_display,
)
from faceveil.methods.base import AnonymizationMethod, create_method
from faceveil.pipeline.frame import restore_regions
from faceveil.pipeline.options import FaceOptions
from faceveil.pipeline.placement import DEFAULT_PAYLOAD, PayloadMode, check_payload_mode, video_payload_source, video_places
from faceveil.pipeline.report import ProgressCallback, TrackSummary, VideoProgress, VideoReport, file_report
from faceveil.pipeline.video_check import verified_frames
from faceveil.pipeline.video_payload import (
    PAYLOAD_CODINGS,
    STREAM_TAG,
    VideoPayloadWriter,
)
from faceveil.pipeline.video_source import SourceInput, SourceRecorder, open_payload
from faceveil.pipeline.video_stream import FrameSink, Scratch, store_payload


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
    payload_coding: how the payload holds the original pixels (pipeline.video_payload): "regions" the
        pixels of every changed rectangle (exact everywhere); "source" the input's compressed video
        packets plus a digest per rectangle (far smaller, but exact only where FFmpeg converts YUV to
        RGB as here; checked at recovery, SourceMismatchError otherwise); "auto" (default) source when
        it is smaller and reproduces every rectangle here, else regions.
    detect_every: full-frame detection every this many frames, cheap re-detection around the known
        faces in between (faceveil.faces.keyframe), for detectors with ``detect_at`` (CenterFace;
        other detector objects run on every frame). Capped at ``lookahead + 1`` so a face appearing
        between key frames is back-filled from its first frame. 1 = full detection every frame.
    """

    encode: EncodeOptions = EncodeOptions()
    span: TimeSpan = TimeSpan()
    tracker: TrackerConfig = TrackerConfig()
    payload: PayloadMode = DEFAULT_PAYLOAD
    chunk_seconds: float = 1.0
    lookahead: int = 2
    batch_frames: int = 8
    detect_every: int = 3
    payload_coding: str = "auto"

    def __post_init__(self) -> None:
        check_payload_mode(self.payload, "payload")
        if self.payload_coding not in PAYLOAD_CODINGS:
            raise UsageError(f"unknown payload coding {self.payload_coding!r}; use one of {', '.join(PAYLOAD_CODINGS)}")
        if not 0.04 <= self.chunk_seconds <= 8:
            raise InputError(f"chunk_seconds must be in [0.04, 8], got {self.chunk_seconds}")
        if not 0 <= self.lookahead <= 64:
            raise InputError(f"lookahead must be in [0, 64] frames, got {self.lookahead}")
        if not 1 <= self.batch_frames <= 256:
            raise InputError(f"batch_frames must be in [1, 256], got {self.batch_frames}")
        if not 1 <= self.detect_every <= 64:
            raise InputError(f"detect_every must be in [1, 64] frames, got {self.detect_every}")


# --------------------------------------------------------------------------------------------- anonymize


def _resolve_method(method: AnonymizationMethod | str) -> AnonymizationMethod:
    return create_method(method) if isinstance(method, str) else method


def _resolve_detector(detector):
    return create_detector(detector) if isinstance(detector, str) else detector


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


# Codecs whose decoders give the same pixels for the same packets, every time. Not MPEG-4 Part 2: issue 22's
# property run found its decoder returning different pixels for one stream from run to run (a P-frame
# at a size that is not a multiple of 16), so a payload of its packets could fail recovery at random.
SOURCE_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})


def _source_recorder(src: Path, info: VideoInfo, options: VideoOptions, scratch: Scratch) -> SourceRecorder | None:
    """What records the source coding (None for ``payload_coding="regions"``). UsageError for
    ``"source"`` when this FFmpeg build cannot decode the input's packets on their own."""
    if options.payload_coding == "regions":
        return None
    from faceveil.io.video import PacketDecoder, decoder_parameters

    try:
        params = decoder_parameters(src)
        if params.codec not in SOURCE_CODECS:
            raise InputError(f"its {params.codec} video is not one whose decoding is known to be reproducible "
                             f"(source coding takes {', '.join(sorted(SOURCE_CODECS))})")
        PacketDecoder(params)
    except InputError as exc:
        if options.payload_coding == "source":
            raise UsageError(f"--payload-coding source is not possible for {src}: {exc}") from None
        return None
    return SourceRecorder(SourceInput(src, options.span, info.rotation, _upright_shape(info)), scratch.path("source.bin"))


def _span_frames_estimate(info: VideoInfo, span: TimeSpan) -> int | None:
    if info.duration_s is None:
        return info.frame_count
    start = span.start or 0.0
    end = min(span.end, info.duration_s) if span.end is not None else info.duration_s
    return max(int(round((end - start) * float(info.fps))), 0)


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
    faces: FaceOptions = FaceOptions(),
) -> VideoReport:
    """Anonymize every face of a video into ``dst`` (.mp4, .mkv, .mov, .webm), reversibly.

    method: a method name or instance (region methods, or aligned ones such as PRO-Face S / G2Face).
    detector: a detector name or any object with ``detect(rgb (H, W, 3) uint8) -> list[Face]``.
    recipients: PassphraseKey / X25519Recipient list that can open the payload; required unless
        ``options.payload == "none"`` (irreversible).
    faces: mask shape/scale, imported boxes (per frame, merged before tracking), ``preview`` (a video
        with boxes, scores and track ids drawn, no payload, no key needed) and ``draw_boxes``.
    Raises InputError (bad input/options), OutputExistsError, KeyMaterialError, NoFacesError.
    """
    src, dst, protect = Path(src), Path(dst), list(protect)
    t_start = time.perf_counter()
    if faces.preview:  # nothing anonymized, so nothing to recover
        options = replace(options, payload="none")
    info = probe_video(src)
    _check_destination(src, dst, overwrite, protect)
    # a sidecar whose video is missing is a leftover of an interrupted run (the video is moved into place
    # last): it is replaced; beside an existing video it is protected like any output
    orphan_sidecar = sidecar_path(dst).exists() and not dst.exists()
    if video_places(options.payload, dst)[1] and sidecar_path(dst).exists() and not overwrite and not orphan_sidecar:
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

    chosen = _TrackChoice({}, {})
    if faces.select is not None and not faces.preview:  # --keep/--only: decide per track in a first pass
        t = time.perf_counter()
        chosen = _choose_tracks(src, info, options, _keyframe_hook(_resolve_detector(detector),
                                min(options.detect_every, options.lookahead + 1)), faces)
        report.kept = chosen.kept
        report.timings["select"] = time.perf_counter() - t
        if chosen.kept:
            report.notes.append(f"{len(chosen.kept)} track(s) left untouched on purpose (see \"kept\" in --json)")
    scratch = Scratch(dst)
    payload_writer = None
    try:
        video_tmp = scratch.path("video" + dst.suffix.lower())
        if content_key is not None:
            chunk_frames = max(1, min(240, int(round(float(info.fps) * options.chunk_seconds))))
            payload_writer = VideoPayloadWriter(scratch.path("chunks.bin"), content_key, chunk_frames,
                                                payload_coding=options.payload_coding,
                                                source=_source_recorder(src, info, options, scratch))
        # the video names its payload: a tag with the payload's (authenticated) stream id
        tags = {STREAM_TAG: payload_writer.stream_id.hex()} if payload_writer is not None else None
        with VideoWriter(video_tmp, info, options.encode, options.span, container_format=output_format(dst), tags=tags) as writer:
            sink = FrameSink(method_obj, content_key, writer, payload_writer, info.rotation, report, options.batch_frames,
                             faces=faces)
            if progress is not None:
                sink.on_frame = lambda: progress(VideoProgress(report.frames, total, time.perf_counter() - t_start))
            frames = iter_frames(src, options.span)
            by_hand = 0
            while True:
                t = time.perf_counter()
                frame = next(frames, None)
                sink.timings["decode"] += time.perf_counter() - t
                if frame is None:
                    break
                upright = to_display(frame.rgb, info.rotation)
                t = time.perf_counter()
                merged = faces.merge(detector_obj.detect(upright), src, frame.index)
                detections = merged.to_anonymize()  # keep / ignore boxes of a boxes file: never tracked
                by_hand += len(merged.faces) - len(detections)
                sink.timings["detect"] += time.perf_counter() - t
                for (held_frame, held_upright), tracked in tracker.push(detections, (frame, upright)):
                    sink.process(held_frame, held_upright, chosen.filter(held_frame.index, tracked))
            for (held_frame, held_upright), tracked in tracker.flush():
                sink.process(held_frame, held_upright, chosen.filter(held_frame.index, tracked))
            sink.finish()
        if by_hand:
            report.notes.append(f"{by_hand} face-frame(s) left untouched: kept or ignored by hand in {faces.boxes.source.name}")
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
            report.notes.append(f"lossy output ({report.codec}): recovery restores the face regions exactly only into a "
                                "lossless codec; "
                                "other pixels stay as decoded. Use lossless for bit-exact recovery.")
        if faces.preview:
            report.notes.append("preview: detections drawn, nothing anonymized, no payload")
            atomic_move(video_tmp, dst, overwrite=overwrite, protect=[src, *protect])
        elif payload_writer is None:
            report.notes.append("payload none: this anonymization cannot be undone")
            atomic_move(video_tmp, dst, overwrite=overwrite, protect=[src, *protect])
        else:
            t = time.perf_counter()
            store_payload(payload_writer, video_tmp, dst, scratch, report, info, method_obj, recipients, options, overwrite,
                          frame_shape, replace_sidecar=orphan_sidecar, mask=faces.mask_for(method_obj))
            sink.timings["payload"] += time.perf_counter() - t
        report.timings = {**sink.timings, **report.timings, "total": time.perf_counter() - t_start}
        return report
    except OSError as exc:  # disk full, read-only file system while writing the scratch files
        if exc.errno not in DISK_ERRNOS:
            raise
        raise OutputWriteError(f"cannot write {dst}: {exc.strerror or exc}") from None
    finally:
        if payload_writer is not None:
            payload_writer.discard()  # no-op once finished; frees the scratch file after an error
        scratch.cleanup()


@dataclass
class _TrackChoice:
    """--keep/--only on a video: the decision of every track of the first pass, by track id, and the
    frame each track started at (the second pass runs the same detection and tracking, so the ids repeat;
    a track whose start differs is anonymized, the safe side)."""

    decisions: dict
    first_frame: dict[int, int]
    kept: list[dict] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict)

    def filter(self, frame_index: int, tracked: list) -> list:
        if not self.decisions:
            return tracked
        out = []
        for tf in tracked:
            start = self._seen.setdefault(tf.track_id, frame_index)
            decision = self.decisions.get(tf.track_id)
            if decision is None or decision.anonymize or self.first_frame.get(tf.track_id) != start:
                out.append(tf)
        return out


def _choose_tracks(src: Path, info: VideoInfo, options: VideoOptions, detector, faces: FaceOptions) -> _TrackChoice:
    """First pass of --keep/--only: detect and track as the second pass will, compare a sample of each
    track's confident frames with the references (pipeline.select.TrackVotes), decide per track."""
    from faceveil.pipeline.select import TrackVotes

    votes = TrackVotes(faces.select)
    tracker: LookaheadTracker[tuple] = LookaheadTracker(options.tracker, options.lookahead)
    first_box: dict[int, object] = {}

    def observe(released) -> None:
        for (index, upright), tracked in released:
            for tf in tracked:
                first_box.setdefault(tf.track_id, tf.face)
                votes.observe(index, upright, tf.face, tf.bridged)

    for frame in iter_frames(src, options.span):
        upright = to_display(frame.rgb, info.rotation)
        detections = faces.merge(detector.detect(upright), src, frame.index).to_anonymize()
        observe(tracker.push(detections, (frame.index, upright)))
    observe(tracker.flush())
    decisions = votes.decisions()
    kept = [decisions[t].record(first_box[t]) | {"first_frame": votes.first_frame[t]}
            for t in sorted(decisions) if not decisions[t].anonymize]
    return _TrackChoice(decisions, dict(votes.first_frame), kept)


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

    encode: output codec; default lossless (FFV1 / x264rgb qp 0 / VP9 lossless by container), so the
        restored face regions are exact whatever the anonymized video was.
    Raises PayloadMissingError, PayloadCorruptError, WrongKeyError, TamperedPayloadError,
    TamperedPixelsError (the video does not match its payload), InputError, OutputExistsError.
    """
    src, dst, protect = Path(src), Path(dst), list(protect)
    t_start = time.perf_counter()
    info = probe_video(src)
    _check_destination(src, dst, overwrite, protect)
    with video_payload_source(src, Path(payload_file) if payload_file else None) as (stream, where):
        opened, records = open_payload(stream, identities)
        header = opened.info
        frame_shape = _upright_shape(info)
        if tuple(header.image_shape) != frame_shape:
            raise TamperedPixelsError(f"{src}: frames are {frame_shape[1]}x{frame_shape[0]} but the payload belongs to a "
                                      f"{header.image_shape[1]}x{header.image_shape[0]} video")
        was_lossless = bool(header.extra.get("lossless"))
        # lossless by default, whatever the anonymized video was: the restored face regions stay exact
        # (a lossy re-encode moved them by up to 58 levels, issue 22); the rest is exactly as decoded
        encode = encode or EncodeOptions(lossless=True)
        report = VideoReport(input=src, output=dst, method=header.method, payload=[where], audio_streams=len(info.audio))
        report.tracking = TrackStats(**{k: v for k, v in header.extra.get("tracking", {}).items()
                                        if k in TrackStats.__dataclass_fields__ and isinstance(v, int)})
        report.tracks = [TrackSummary.from_dict(f) for f in header.faces if isinstance(f, dict)]
        position = stream.tell()  # the records iterator reads on from here
        report.payload_bytes = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        scratch = Scratch(dst)
        try:
            video_tmp = scratch.path("video" + dst.suffix.lower())
            expected = int(opened.stream.get("frames", 0))
            with VideoWriter(video_tmp, info, encode, container_format=output_format(dst)) as writer:
                report.codec, report.lossless = writer.choice.codec, writer.choice.lossless
                for frame, upright, record in verified_frames(src, info, opened.stream, records):
                    restored = restore_regions(upright, [r for r in record.regions])
                    writer.write(from_display(restored, info.rotation), frame.pts)
                    report.frames += 1
                    if progress is not None:
                        progress(VideoProgress(report.frames, expected, time.perf_counter() - t_start))
            restrict_permissions(video_tmp)  # a recovered original: owner-only (io/atomic.PRIVATE_MODE)
            atomic_move(video_tmp, dst, overwrite=overwrite, protect=[src, *protect])
        except OSError as exc:  # disk full, read-only file system while encoding
            if exc.errno not in DISK_ERRNOS:
                raise
            raise OutputWriteError(f"cannot write {dst}: {exc.strerror or exc}") from None
        finally:
            scratch.cleanup()
    report.duration_s = report.frames / float(info.fps)
    if not report.lossless:
        report.notes.append(f"lossy output ({report.codec}): the face regions were re-encoded after their restoration, "
                            "so they are not exact; recover without --codec/--crf (lossless) for exact face regions")
    elif not was_lossless:
        report.notes.append(f"lossless output ({report.codec}): face regions restored exactly (the original pixels); "
                            "the other pixels are exactly as decoded from the lossy anonymized video")
    report.timings = {"total": time.perf_counter() - t_start}
    return report


def anonymize_video_file(anonymizer, src: Path, dst: Path, *, overwrite: bool = False, protect: Iterable[Path] = (),
                         options: VideoOptions | None = None, progress: ProgressCallback | None = None):
    """``faceveil.api`` entry point: anonymize with an ``api.Anonymizer``'s method, detector and recipients."""
    options = options or VideoOptions(payload=anonymizer.payload)
    report = anonymize_video(src, dst, method=anonymizer.method, detector=anonymizer.detector,
                             recipients=anonymizer.recipients, options=options, overwrite=overwrite, protect=protect,
                             require_faces=anonymizer.require_faces, progress=progress, faces=anonymizer.faces)
    return file_report(report)


def recover_video_file(src: Path, dst: Path, identities: Sequence, *, overwrite: bool = False, protect: Iterable[Path] = (),
                       payload_file: Path | None = None, encode: EncodeOptions | None = None,
                       progress: ProgressCallback | None = None):
    """``faceveil.api`` entry point for ``faceveil recover`` on a video."""
    return file_report(recover_video(src, dst, identities, payload_file=payload_file, encode=encode,
                                      overwrite=overwrite, protect=protect, progress=progress))
