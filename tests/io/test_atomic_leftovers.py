"""A killed writer's hidden temp files are found and removed (the scale engine does it after a run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from faceveil.io.atomic import remove_temp_leftovers


def test_a_sigkilled_writers_temp_file_is_removed_and_nothing_else(tmp_path):
    (tmp_path / "d").mkdir()
    keep = [tmp_path / "d" / "a.png", tmp_path / "d" / ".hidden.tmp", tmp_path / "d" / ".a.png.notours.tmp"]
    for p in keep:
        p.write_bytes(b"x")
    # a real writer, killed in the middle of atomic_write_bytes: its temp file stays behind
    code = ("import sys, faceveil.io.atomic as a, os, time\n"
            "a.os.fsync = lambda fd: time.sleep(60)\n"
            f"a.atomic_write_bytes({str(tmp_path / 'd' / 'b.png')!r}, b'payload' * 1000)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list((tmp_path / "d").glob(".b.png.*.tmp")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = list((tmp_path / "d").glob(".b.png.*.tmp"))
    assert len(leftovers) == 1 and not (tmp_path / "d" / "b.png").exists()
    assert remove_temp_leftovers(tmp_path) == leftovers
    assert not leftovers[0].exists() and all(p.exists() for p in keep)
