"""What happened to a file: the per-file report the API and CLI print (:class:`FileReport`), the
video pipeline's detailed :class:`VideoReport`, and progress reporting for long videos."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faceveil.faces.track import TrackStats


@dataclass
class FileReport:
    """Outcome for one input file; ``to_dict`` is what ``--json`` prints."""

    input: Path
    output: Path | None = None
    ok: bool = True
    error: str | None = None
    exit_code: int = 0
    faces: list[dict] = field(default_factory=list)
    method: str | None = None
    payload: list[str] = field(default_factory=list)  # where the recovery payload went / came from
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    payload_bytes: int = 0  # size of the recovery payload written (0: none)
    skipped: bool = False  # not processed on purpose (e.g. already anonymized); ``notes`` says why
    kept: list[dict] = field(default_factory=list)  # faces left untouched on purpose (--keep/--only, review) and why

    @property
    def face_count(self) -> int:
        return len(self.faces)

    def to_dict(self) -> dict:
        d = {
            "input": str(self.input),
            "output": str(self.output) if self.output else None,
            "ok": self.ok,
            "faces": self.faces,
            "face_count": self.face_count,
            "method": self.method,
            "payload": self.payload,
            "payload_bytes": self.payload_bytes,
            "notes": self.notes,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "skipped": self.skipped,
        }
        if self.kept:
            d["kept"] = self.kept
        if not self.ok:
            d |= {"error": self.error, "exit_code": self.exit_code}
        return d


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
    payload_coding: str = ""  # "regions" or "source" (pipeline.video_payload); "" without a payload
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    kept: list[dict] = field(default_factory=list)  # tracks left untouched on purpose (--keep/--only) and why

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
            "payload_coding": self.payload_coding,
            "processing_fps": round(self.processing_fps, 2),
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        } | ({"kept": self.kept} if self.kept else {})


def file_report(report: VideoReport) -> FileReport:
    """The per-file report the API and CLI print, for a video."""
    return FileReport(
        input=report.input,
        output=report.output,
        faces=[t.to_dict() for t in report.tracks],
        method=report.method,
        payload=report.payload,
        payload_bytes=report.payload_bytes,
        notes=report.notes + [
            f"video: {report.frames} frames, {report.tracking.tracks} tracks, {report.tracking.frames_with_faces} frames "
            f"with faces, {report.tracking.bridged_frames} bridged frames; payload {report.payload_bytes_per_minute / 1e6:.1f} "
            f"MB/min; {report.processing_fps:.1f} fps"
        ],
        timings=report.timings,
        kept=report.kept,
    )
