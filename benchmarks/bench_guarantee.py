"""What "exit 0 means recoverable" costs (issue 22): the writer reads every video output back as
`recover` will (pipeline.video_check.recovery_problem) before keeping it, and recovery decodes stored
packets single-threaded under a watchdog. Markdown on stdout.

    .venv/bin/python benchmarks/bench_guarantee.py [--seconds 4] [--size 1280x720]

Per payload coding: the whole `faceveil anonymize clip.mp4 -o out.mkv` and `faceveil recover out.mkv -o
back.mkv` processes (wall time, cold start), and, in-process beside them (labelled), the time of the
recovery check alone on the same output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str) -> float:
    env = {**os.environ, "FACEVEIL_PASSPHRASE": "bench", "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "faceveil", *args, "-q"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    from faceveil.crypto.keys import PassphraseKey
    from faceveil.pipeline.placement import video_payload_source
    from faceveil.pipeline.video_check import recovery_problem
    from faceveil.pipeline.video_source import open_payload
    from faceveil.testing import write_synthetic_clip

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; clip: {width}x{height}, "
          f"{args.seconds:g} s at 25 fps, H.264 CRF 20, moving face (faceveil.testing); output .mkv, payload embedded\n")
    print("| payload coding | anonymize (CLI) s | of which the recovery check (in-process) s | recover (CLI) s |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_synthetic_clip(Path(tmp, "clip.mp4"), size=(width, height), seconds=args.seconds, noise=2.0, crf=20,
                                    face_height=height // 2)
        for coding in ("regions", "source"):
            out, back = Path(tmp, f"{coding}.mkv"), Path(tmp, f"{coding}.back.mkv")
            t_anon = cli("anonymize", str(clip.path), "-o", str(out), "--payload-coding", coding)
            with video_payload_source(out, None) as (stream, _):
                opened, _records = open_payload(stream, [PassphraseKey.for_opening("bench")])
            key, shape = opened.content_key, tuple(opened.info.image_shape)
            started = time.perf_counter()
            problem = recovery_problem(out, None, key, shape)
            t_check = time.perf_counter() - started
            assert problem is None, problem
            t_rec = cli("recover", str(out), "-o", str(back))
            print(f"| {coding} | {t_anon:.1f} | {t_check:.1f} | {t_rec:.1f} |")


if __name__ == "__main__":
    main()
