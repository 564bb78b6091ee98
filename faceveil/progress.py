"""Honest progress for long work (photo batches, video frames, eval, training), in two modes:

- **terminal** (the stream is a TTY): a rich bar with X/N, rate and ETA, redrawn in place and removed
  when done;
- **plain** (logs, CI, pipes): one line per file (``[3/10] a.jpg: 2 faces, 0.4 s``) and, for long
  frame/step counts, one ``label: 120/500 frames (24 %), 11.8 frames/s, ETA 32 s`` line every
  ``interval_s`` seconds, so a log shows the work is alive without drowning in updates.

Both end with one summary line (files, faces, failures, time), e.g.
``done: 10 files (9 ok, 1 failed), 14 faces, 42.1 s``. Everything goes to ``stream`` (stderr by default),
never stdout, which ``--json`` owns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

PLAIN_INTERVAL_S = 10.0

# C0/C1 controls, DEL and the Unicode line/paragraph separators: in a file name they would split a
# message or forge a log line, or move the terminal's cursor (issue 22)
_CONTROLS = {c: repr(chr(c))[1:-1] for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def one_line(text: str) -> str:
    """``text`` with every control character escaped as Python writes it (``\\n``, ``\\x1b``, ``\\u2028``):
    each message and progress line stays one line whatever the file names contain."""
    return str(text).translate(_CONTROLS)


def format_duration(seconds: float) -> str:
    """``"42.1 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class RunSummary:
    """Counts for the final line."""

    files: int = 0
    failed: int = 0
    faces: int = 0
    seconds: float = 0.0
    payload_bytes: int = 0

    def line(self) -> str:
        parts = [f"{self.files} file{'s' if self.files != 1 else ''}"]
        if self.failed:
            parts[0] += f" ({self.files - self.failed} ok, {self.failed} failed)"
        parts.append(f"{self.faces} face{'s' if self.faces != 1 else ''}")
        if self.payload_bytes:
            parts.append(f"payload {self.payload_bytes / 1e6:.2f} MB")
        parts.append(format_duration(self.seconds))
        return "done: " + ", ".join(parts)


class Progress:
    """Progress of one task of ``total`` units (None = unknown). Use as a context manager.

    ``interactive``: None = decide from ``stream.isatty()``. ``enabled=False`` prints nothing at all
    (``--quiet``). ``clock`` is injectable so tests can drive time.
    """

    def __init__(
        self,
        total: int | None,
        *,
        label: str = "",
        unit: str = "file",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        enabled: bool = True,
        interval_s: float = PLAIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = enabled and (self.stream.isatty() if interactive is None else interactive)
        self.interval_s = interval_s
        self.clock = clock
        self.done = 0
        self.summary = RunSummary()
        self._start = clock()
        self._last_plain = self._start
        self._bar = None
        self._task = None
        if self.interactive:
            self._open_bar()

    # -- terminal mode

    def _open_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        console = Console(file=self.stream, force_terminal=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        self._bar = RichProgress(*columns, console=console, transient=True, get_time=self.clock)
        self._bar.start()
        self._task = self._bar.add_task(self.label or self.unit + "s", total=self.total, rate="")

    # -- shared

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self._start

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.total or self.rate <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    def _rate_text(self) -> str:
        if 0 < self.rate < 0.1:  # slow units (eval: seconds per image) would print as "0.0 images/s"
            return f"{1 / self.rate:.1f} s/{self.unit}"
        return f"{self.rate:.1f} {self.unit}s/s"

    def status_line(self) -> str:
        """``label: 120/500 frames (24 %), 11.8 frames/s, ETA 32.2 s`` (the plain-mode periodic line)."""
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        text = f"{self.label + ': ' if self.label else ''}{count} {self.unit}s"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f} %)"
        text += f", {self._rate_text()}"
        if (eta := self.eta_s) is not None:
            text += f", ETA {format_duration(eta)}"
        return text

    def _print(self, line: str, *, escaped: bool = False) -> None:
        # ``escaped``: the caller escaped each line itself (a report with its notes on lines of their own)
        line = line if escaped else one_line(line)
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)  # the terminal wraps
        elif self.enabled:
            print(line, file=self.stream, flush=True)

    def update(self, done: int, total: int | None = None) -> None:
        """Set the absolute count (video frames, eval pairs, training steps); ``total`` may be refined."""
        self.done = done
        if total is not None:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total, rate=self._rate_text())
        elif self.enabled:
            now = self.clock()
            finished = self.total is not None and done >= self.total
            if now - self._last_plain >= self.interval_s and not finished:
                self._last_plain = now
                self._print(self.status_line())

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def file_done(self, name: str, *, faces: int = 0, error: str | None = None, payload_bytes: int = 0,
                  seconds: float | None = None, line: str | None = None) -> None:
        """One file finished: counted in the summary; a plain-mode line (``[3/10] a.jpg: 2 faces, 0.4 s``);
        failures are printed in both modes (they must not vanish with the bar). ``line``: the caller's
        own report of the file, printed instead in both modes (``[3/10] a.jpg -> out/a.jpg: ...``), so a
        batch reports each file once, as it finishes; each of its lines already escaped (progress.one_line)."""
        self.summary.files += 1
        self.summary.faces += faces
        self.summary.payload_bytes += payload_bytes
        count = f"[{self.done + 1}/{self.total}]" if self.total else f"[{self.done + 1}]"
        if error is not None:
            self.summary.failed += 1
            self._print(f"{count} {name}: FAILED: {error}")
        elif line is not None:
            self._print(f"{count} {line}", escaped=True)
        elif not self.interactive:
            took = f", {format_duration(seconds)}" if seconds is not None else ""
            self._print(f"{count} {name}: {faces} face{'s' if faces != 1 else ''}{took}")
        self.advance()
        if self._bar is not None:  # files are slow: redraw now rather than at the next 10 Hz tick
            self._bar.update(self._task, description=one_line(f"{self.label + ' ' if self.label else ''}{name[-30:]}"),
                             refresh=True)

    def video_callback(self) -> Callable:
        """A ``progress=`` callback for faceveil's video functions (takes their VideoProgress)."""
        return lambda p: self.update(p.frames_done, p.frames_total)

    def close(self) -> RunSummary:
        """Stop the bar and print the summary line (for file batches; frame tasks print their last status).
        Returns the summary."""
        self.summary.seconds = self.elapsed_s
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.enabled:
            line = self.summary.line() if self.summary.files else f"done: {self.status_line()}, {format_duration(self.summary.seconds)}"
            print(line, file=self.stream, flush=True)
        return self.summary

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._bar is not None:
            self._bar.stop()
