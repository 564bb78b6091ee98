"""Generated videos for the round-trip property (issue 22 #2): frame rates 1-12,800, odd time bases,
duplicate / gap timestamps (and the non-monotonic decode order of B-frames, in open GOPs), 1-3 frames, odd sizes,
rotation, audio, mp4 / mkv / mov / webm, h264 / vp9 / mpeg4 / ffv1, lossless and lossy outputs, every
payload coding. Invariant: anonymize returns (exit 0) => recover succeeds, and the recovered frames
equal the decoded original frames (lossless output) or the face regions do (lossy output).

Shared by tests/test_video_roundtrip_property.py (a few hypothesis examples) and
scripts/fuzz_video_roundtrip.py (many)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from faceveil.errors import FaceveilError
from faceveil.faces.types import Face

CODEC_CONTAINERS = {"libx264": (".mp4", ".mkv", ".mov"), "libvpx-vp9": (".webm", ".mkv"), "mpeg4": (".mp4", ".mkv", ".mov"),
                    "ffv1": (".mkv",)}
FPS = (Fraction(1), Fraction(12), Fraction(25), Fraction(30000, 1001), Fraction(240), Fraction(12800))
TIME_BASES = (None, Fraction(1, 90000), Fraction(1, 1000), Fraction(1001, 30000), Fraction(1, 7), Fraction(1, 12800))
SIZES = ((64, 48), (97, 75), (160, 120), (121, 90), (50, 130))
TIMING = ("regular", "gap", "duplicate")
OUTPUTS = (".mp4", ".mkv", ".mov", ".webm")
CODINGS = ("auto", "regions", "source")


@dataclass(frozen=True)
class Case:
    codec: str
    container: str
    fps: Fraction
    time_base: Fraction | None
    frames: int
    size: tuple[int, int]  # display (W, H)
    rotation: int
    audio: bool
    timing: str
    bframes: bool
    output: str
    lossless: bool
    coding: str

    def label(self) -> str:
        return (f"{self.codec}{self.container} {self.size[0]}x{self.size[1]} r{self.rotation} {self.frames}f "
                f"@{self.fps} tb={self.time_base} {self.timing}{' B' if self.bframes else ''}{' +audio' if self.audio else ''}"
                f" -> {self.output} {'lossless' if self.lossless else 'lossy'} {self.coding}")


class BoxDetector:
    """A fixed face box in the middle of every frame (upright): deterministic, and every frame has regions."""

    name = "box"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        return [Face(box=(w * 0.25, h * 0.2, w * 0.75, h * 0.8), score=0.99)]


class SkipCase(Exception):
    """This FFmpeg build cannot write the generated input (e.g. mpeg4 at an odd size)."""


def timestamps(case: Case, tb: Fraction) -> list[int]:
    step = (1 / case.fps) / tb
    pts = [int(round(i * step)) for i in range(case.frames)]
    if case.timing == "gap" and case.frames > 1:
        pts[-1] += int(round(3 * step)) or 3
    if case.timing == "duplicate":
        pts = [int(i * step) for i in range(case.frames)]  # a coarse time base: several frames at one tick
    return pts


def write_input(case: Case, path: Path) -> Path:
    import av

    from faceveil.io.video import from_display
    from faceveil.testing import _write_sine, synthetic_frames

    frames, _ = synthetic_frames(case.size, case.frames, max(8, int(case.size[1] * 0.5)), noise=2.0)
    tb = case.time_base or Fraction(1, 1) / case.fps
    try:
        with av.open(str(path), mode="w") as out:
            stored = from_display(frames[0], case.rotation)
            options = {}
            if case.codec == "libx264":
                options = {"preset": "fast" if case.bframes else "ultrafast", "crf": "23"}
                if case.bframes:  # B-frames in open GOPs of two frames: a 3-frame clip has two GOPs
                    options["x264-params"] = "keyint=2:min-keyint=1:open-gop=1"
            elif case.codec == "libvpx-vp9":
                options = {"deadline": "realtime", "cpu-used": "8"}
            elif case.codec == "mpeg4" and case.bframes:
                options = {"bf": "2"}
            stream = out.add_stream(case.codec, rate=case.fps, options=options)
            stream.width, stream.height = stored.shape[1], stored.shape[0]
            formats = [f.name for f in stream.codec_context.codec.video_formats or []]
            even = stored.shape[0] % 2 == 0 and stored.shape[1] % 2 == 0
            stream.pix_fmt = next(p for p in (("yuv420p",) if even else ()) + ("yuv444p", "bgr0", "yuv420p") if p in formats)
            stream.codec_context.time_base = tb
            if case.rotation:
                stream.set_display_rotation(case.rotation)
            audio = None
            if case.audio:
                audio = out.add_stream("libopus" if case.container == ".webm" else "aac",
                                       rate=48000 if case.container == ".webm" else 16000)
                audio.layout = "mono"
            previous = None
            for frame, pts in zip(frames, timestamps(case, tb)):
                if previous is not None and pts <= previous:
                    pts = previous + 1  # encoders need increasing input timestamps; the muxer may still round
                previous = pts
                vf = av.VideoFrame.from_ndarray(from_display(frame, case.rotation), format="rgb24")
                vf.pts, vf.time_base = pts, tb
                for packet in stream.encode(vf):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if audio is not None:
                _write_sine(out, audio, seconds=max(case.frames / float(case.fps), 0.05))
    except (av.error.FFmpegError, ValueError, StopIteration) as exc:
        raise SkipCase(f"{case.codec} cannot write this input: {exc}") from None
    return path


def check(case: Case, folder: Path) -> str:
    """Run the invariant on one case. Returns "skipped: ..." / "refused: ..." / "ok"; raises AssertionError
    when anonymize succeeded but recovery failed or is not exact."""
    from faceveil.crypto.keys import X25519Identity
    from faceveil.io.video import EncodeOptions, iter_frames, probe_video
    from faceveil.pipeline.placement import video_payload_source
    from faceveil.pipeline.video import VideoOptions, anonymize_video, recover_video
    from faceveil.pipeline.video_source import open_payload

    folder.mkdir(parents=True, exist_ok=True)
    try:
        src = write_input(case, folder / f"in{case.container}")
        original = [f.rgb for f in iter_frames(src)]
        rotation = probe_video(src).rotation
    except SkipCase as exc:
        return f"skipped: {exc}"
    except FaceveilError as exc:
        return f"skipped: the generated input does not read back ({exc})"
    identity = X25519Identity.generate()
    anon = folder / f"anon{case.output}"
    try:
        anonymize_video(src, anon, method="mosaic", detector=BoxDetector(), recipients=[identity.recipient],
                        options=VideoOptions(encode=EncodeOptions(lossless=case.lossless), payload_coding=case.coding,
                                             payload="embedded", lookahead=0, detect_every=1))
    except FaceveilError as exc:
        assert not anon.exists(), f"{case.label()}: refused ({exc}) but wrote {anon}"
        return f"refused: {type(exc).__name__}: {exc}"
    back = folder / "back.mkv"
    try:
        recover_video(anon, back, [identity])
    except FaceveilError as exc:
        raise AssertionError(f"{case.label()}: anonymize exited 0 but recover fails: {type(exc).__name__}: {exc}") from None
    recovered = [f.rgb for f in iter_frames(back)]
    assert len(recovered) == len(original), f"{case.label()}: {len(recovered)} frames recovered of {len(original)}"
    from faceveil.io.video import to_display

    if case.lossless:
        for i, (a, b) in enumerate(zip(original, recovered)):
            assert np.array_equal(a, b), f"{case.label()}: lossless recovery differs in frame {i}"
    else:
        with video_payload_source(anon, None) as (stream, _):
            _, records = open_payload(stream, [identity])
            for i, (record, a, b) in enumerate(zip(records, original, recovered)):
                a, b = to_display(a, rotation), to_display(b, rotation)
                for r in record.regions:
                    h, w = r.pixels.shape[:2]
                    assert np.array_equal(a[r.y:r.y + h, r.x:r.x + w], b[r.y:r.y + h, r.x:r.x + w]), \
                        f"{case.label()}: face region {w}x{h} at ({r.x}, {r.y}) of frame {i} is not exact"
    return "ok"
