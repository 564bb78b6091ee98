"""The video pipeline's stream stage: tracked frames → frame pipeline (batched) → payload records →
encoder, and the finished payload stream → MKV attachment and/or sidecar (pipeline.placement).
Split from pipeline.video, which orders decode → detect → track → this → encode."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from faceveil.crypto.container import pixel_digest
from faceveil.crypto.envelope import ContentKey
from faceveil.faces.draw import draw_faces
from faceveil.faces.track import TrackedFace
from faceveil.io.atomic import ScratchDir as Scratch
from faceveil.io.atomic import atomic_move, pair_lock
from faceveil.io.carriers import sidecar_path
from faceveil.io.video import VideoFrame, VideoInfo, VideoWriter, from_display, output_format, remux_with_attachments
from faceveil.methods.base import AnonymizationMethod, create_method
from faceveil.pipeline import placement
from faceveil.pipeline.frame import FrameResult, anonymize_frames, changed_regions, track_contexts
from faceveil.pipeline.options import FaceOptions
from faceveil.pipeline.placement import ATTACHMENT_NAME, video_places
from faceveil.pipeline.report import TrackSummary, VideoReport
from faceveil.pipeline.video_payload import FrameRecord, TrackRegion, VideoPayloadWriter, frame_signatures


class FrameSink:
    """Anonymizes tracked frames as the look-ahead tracker releases them: method → payload record → encoder.

    Aligned (learned) methods get the faces of ``batch_frames`` consecutive frames in one call, so a
    GPU sees real batches even when each frame holds one face; region methods run frame by frame."""

    def __init__(self, method: AnonymizationMethod, content_key: ContentKey | None, writer: VideoWriter,
                 payload_writer: VideoPayloadWriter | None, rotation: int, report: VideoReport,
                 batch_frames: int = 1, faces: FaceOptions = FaceOptions()) -> None:
        self.method = method
        self.faces = faces
        self.mask = faces.mask_for(method)
        self.fallback = create_method(method.fallback) if method.space == "aligned" else None
        self.batch_frames = batch_frames if method.space == "aligned" else 1
        self.content_key = content_key
        self.run_salt = int(np.random.SeedSequence().entropy % (1 << 63))  # seeds when there is no key
        self.writer, self.payload_writer, self.rotation, self.report = writer, payload_writer, rotation, report
        self.summaries: dict[int, TrackSummary] = {}
        self.on_frame: Callable[[], None] | None = None  # called after each written frame (progress)
        self.timings = {"decode": 0.0, "detect": 0.0, "anonymize": 0.0, "encode": 0.0, "payload": 0.0}
        self._pending: list[tuple[VideoFrame, np.ndarray, Sequence[TrackedFace]]] = []
        self._first_time: float | None = None  # payload timestamps count from the first frame
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
        if self.faces.preview:  # boxes, scores and track ids drawn; nothing anonymized
            results = [FrameResult(draw_faces(u, f, mask=self.mask), []) for (_, u, _), f in zip(pending, faces)]
        else:
            contexts = [track_contexts(f, self.content_key, self.run_salt) for f in faces]
            results = anonymize_frames([u for _, u, _ in pending], faces, contexts, self.method, self.fallback,
                                       mask=self.mask)
            for result, f in zip(results, faces):  # before the payload records: recovery stays exact
                result.rgb = self.faces.overlay(result.rgb, f)
        self.timings["anonymize"] += time.perf_counter() - t
        for (frame, upright, tracked), result in zip(pending, results):
            self._emit(frame, upright, tracked, result)

    def _emit(self, frame: VideoFrame, upright: np.ndarray, tracked: Sequence[TrackedFace], result: FrameResult) -> None:
        summarise(self.summaries, frame.index, tracked)
        for outcome in result.outcomes:
            if outcome.fallback_reason and not any(outcome.fallback_reason in n for n in self.report.notes):
                self.report.notes.append(f"{outcome.method} used instead of {self.method.name} for some faces "
                                         f"({outcome.fallback_reason})")
        if self.payload_writer is not None:
            t = time.perf_counter()
            if self._first_time is None:
                self._first_time = frame.time
            self.payload_writer.add(frame_record(frame.index, upright, result, lossless=self.writer.choice.lossless,
                                                 time_us=round((frame.time - self._first_time) * 1e6), pts=frame.pts))
            self.timings["payload"] += time.perf_counter() - t
        t = time.perf_counter()
        self.writer.write(from_display(result.rgb, self.rotation), frame.pts)
        self.timings["encode"] += time.perf_counter() - t
        self.report.frames += 1
        if self.on_frame is not None:
            self.on_frame()


def summarise(summaries: dict[int, TrackSummary], index: int, tracked: Sequence[TrackedFace]) -> None:
    for tf in tracked:
        s = summaries.setdefault(tf.track_id, TrackSummary(tf.track_id, index, index, first_box=tf.face.box))
        s.last_frame = index
        s.frames += 1
        s.bridged_frames += tf.bridged


def frame_record(index: int, upright: np.ndarray, result, *, lossless: bool, time_us: int | None = None,
                 pts: int | None = None) -> FrameRecord:
    """Original pixels of the frame's changed rectangles, tagged with their track ids, and what binds
    the record to the anonymized frame (its timestamp, signatures of its anonymized pixels)."""
    owned = [(o.face.track_id, o.rect) for o in result.outcomes if o.rect[2] > 0 and o.rect[3] > 0]
    regions = changed_regions(upright, result.rgb, [rect for _, rect in owned])
    track_ids = [int(tid) if tid is not None else -1 for tid, _ in owned] + [-1] * (len(regions) - len(owned))
    return FrameRecord(
        index=index,
        regions=[TrackRegion(tid, r.x, r.y, r.pixels) for tid, r in zip(track_ids, regions)],
        # for lossless outputs the decoded frame will equal result.rgb: bind it, detect tampering
        digest=pixel_digest(result.rgb) if lossless else None,
        time_us=time_us,
        signatures=frame_signatures(result.rgb, [(r.x, r.y, r.pixels.shape[1], r.pixels.shape[0]) for r in regions])
        if time_us is not None else [],
        pts=pts,
    )


def store_payload(writer: VideoPayloadWriter, video_tmp: Path, dst: Path, scratch: Scratch, report: VideoReport,
                   info: VideoInfo, method: AnonymizationMethod, recipients, options, overwrite: bool,
                   frame_shape: tuple[int, int, int], *, replace_sidecar: bool = False, mask=None) -> None:
    """Seal the payload, check that the output recovers (pipeline.video_check.recovery_problem; the source
    coding falls back to region coding if not; UnrecoverableOutputError if nothing works, nothing
    written), then move it into place: sidecar first, the video last (so an interruption never leaves a
    video without its payload). ``replace_sidecar``: an orphaned sidecar (its video missing) may go.
    ``mask``: recorded in the header's extra (faceveil.faces.mask.MaskSpec)."""
    from faceveil.errors import UnrecoverableOutputError
    from faceveil.pipeline.video_check import recovery_problem

    payload_path = scratch.path("payload.fvv")
    extra = {
        "format": output_format(dst),
        "codec": report.codec,
        "lossless": report.lossless,
        "fps": str(info.fps),
        "rotation": info.rotation,
        "span": [options.span.start, options.span.end],
        "tracking": report.tracking.to_dict(),
    } | ({"mask": mask.to_dict()} if mask is not None else {}) \
      | ({"kept": [{k: v for k, v in d.items() if k != "reference"} for d in report.kept]} if report.kept else {})
    notes = list(report.notes)
    while True:
        report.notes = list(notes)
        with open(payload_path, "wb") as out:
            report.payload_bytes = writer.finish(out, recipients=recipients, method=method.name,
                                                 method_params=method.params(), frame_shape=frame_shape,
                                                 tracks=[t.to_dict() for t in report.tracks], extra=extra, keep_scratch=True)
        final, embed, sidecar = _place_payload(video_tmp, payload_path, dst, scratch, report, options)
        problem = recovery_problem(final, None if embed else payload_path, writer.content_key, frame_shape)
        if problem is None:
            break
        if not writer.can_fall_back:
            raise UnrecoverableOutputError(
                f"{dst}: not written: the anonymized video would not recover ({problem})"
                + ("; try --payload-coding regions" if writer.stats.coding == 3 else ""))
        writer.fall_back_to_regions(problem)
    report.payload_coding = {1: "regions", 2: "regions+streams", 3: "source"}[writer.stats.coding]
    if writer.stats.coding_note:
        report.notes.append(writer.stats.coding_note)
    with pair_lock(dst.parent):  # another --overwrite writer cannot interleave its sidecar with this video
        if sidecar:
            side = sidecar_path(dst)
            atomic_move(payload_path, side, overwrite=overwrite or replace_sidecar)  # refuses a sidecar that appeared meanwhile
            report.payload.append(str(side))
        atomic_move(final, dst, overwrite=overwrite)


def _place_payload(video_tmp: Path, payload_path: Path, dst: Path, scratch: Scratch, report: VideoReport,
                   options) -> tuple[Path, bool, bool]:
    """(the video to move into place, payload embedded?, payload as sidecar?); the video carries the
    attachment when embedded. Notes where the payload could not go where asked."""
    embed, sidecar = video_places(options.payload, dst)
    report.payload = [p for p in report.payload if p != "embedded"]
    if options.payload == "embedded" and not embed:
        report.notes.append(f"{dst.suffix} files cannot carry attachments: wrote the payload as a sidecar (use .mkv to embed)")
    if embed and report.payload_bytes > placement.MAX_ATTACHMENT_BYTES:
        report.notes.append(f"the {report.payload_bytes / 2**20:.0f} MiB payload is too large to embed "
                            f"(limit {placement.MAX_ATTACHMENT_BYTES // 2**20} MiB): wrote it as a sidecar")
        embed, sidecar = False, True
    if not embed:
        return video_tmp, embed, sidecar
    final_tmp = scratch.path("final" + dst.suffix.lower())
    remux_with_attachments(video_tmp, final_tmp, {ATTACHMENT_NAME: payload_path.read_bytes()})
    report.payload.append("embedded")
    return final_tmp, embed, sidecar
