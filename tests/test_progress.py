"""faceveil.progress: terminal bar (X/N, rate, ETA) vs plain lines for logs, and the summary line."""

from __future__ import annotations

import io

from faceveil.progress import Progress, RunSummary, format_duration
from faceveil.pipeline.report import VideoProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_mode_prints_one_line_per_file_and_a_summary():
    out, clock = io.StringIO(), FakeClock()
    with Progress(3, stream=out, clock=clock) as progress:  # StringIO is not a TTY: plain mode
        assert not progress.interactive
        clock.now += 0.4
        progress.file_done("a.jpg", faces=2, seconds=0.4, payload_bytes=1_500_000)
        clock.now += 1
        progress.file_done("b.png", error="b.png: not an image")
        clock.now += 1
        progress.file_done("c.webp", faces=1, seconds=1.0)
    lines = out.getvalue().splitlines()
    assert lines == [
        "[1/3] a.jpg: 2 faces, 0.4 s",
        "[2/3] b.png: FAILED: b.png: not an image",
        "[3/3] c.webp: 1 face, 1.0 s",
        "done: 3 files (2 ok, 1 failed), 3 faces, payload 1.50 MB, 2.4 s",
    ]
    assert progress.summary.failed == 1 and progress.summary.faces == 3


def test_plain_mode_prints_periodic_status_for_long_frame_counts():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(500, label="clip.mp4", unit="frame", stream=out, clock=clock, interval_s=10)
    callback = progress.video_callback()
    for frame in range(1, 501):
        clock.now += 0.1  # 10 frames/s
        callback(VideoProgress(frame, 500, clock.now - 1000.0))
    progress.close()
    lines = out.getvalue().splitlines()
    # one line per 10 s of work (not per frame), none at the very end, then the final line
    assert len(lines) == 5
    assert lines[0] == "clip.mp4: 100/500 frames (20 %), 10.0 frames/s, ETA 40.0 s"
    assert lines[-1].startswith("done: clip.mp4: 500/500 frames (100 %), 10.0 frames/s") and lines[-1].endswith("50.0 s")


def test_terminal_mode_draws_a_bar_with_count_rate_and_eta_and_keeps_failures():
    out, clock = Terminal(), FakeClock()
    with Progress(4, stream=out, clock=clock, label="anonymize") as progress:
        assert progress.interactive
        for name in ("a.jpg", "b.jpg"):
            clock.now += 2
            progress.file_done(name, faces=1)
        progress.file_done("c.jpg", error="c.jpg: corrupt")
        clock.now += 2
        progress.file_done("d.jpg", faces=0)
    text = out.getvalue()
    assert "\x1b[" in text  # drawn with terminal control codes, in place
    assert "2/4" in text and "files/s" in text and "ETA" in text
    assert "[3/4] c.jpg: FAILED: c.jpg: corrupt" in text  # failures survive the transient bar
    assert "a.jpg: 1 face" not in text  # no per-file lines in a terminal: the bar says it
    assert text.rstrip().endswith("done: 4 files (3 ok, 1 failed), 2 faces, 6.0 s")


def test_disabled_prints_nothing_and_unknown_totals_work():
    out = io.StringIO()
    with Progress(None, stream=out, enabled=False) as progress:
        progress.file_done("a.jpg", faces=1)
    assert out.getvalue() == "" and progress.summary.files == 1
    clock = FakeClock()
    p = Progress(None, unit="frame", stream=io.StringIO(), clock=clock)
    clock.now += 2
    p.update(10)
    assert p.eta_s is None and p.status_line() == "10 frames, 5.0 frames/s"


def test_formatting():
    assert format_duration(3.04) == "3.0 s" and format_duration(185) == "3 min 05 s" and format_duration(3720) == "1 h 02 min"
    assert RunSummary(files=1, faces=1, seconds=0.5).line() == "done: 1 file, 1 face, 0.5 s"


def test_slow_units_show_seconds_per_unit_and_a_right_eta():
    """Issue 20: eval at 25 s an image printed "0.0 images/s"."""
    clock = FakeClock()
    p = Progress(10, unit="image", label="eval", stream=io.StringIO(), clock=clock)
    clock.now += 50
    p.update(2)
    assert p.status_line() == "eval: 2/10 images (20 %), 25.0 s/image, ETA 3 min 20 s"
