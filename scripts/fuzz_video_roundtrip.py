"""The long run of the video round-trip property (issue 22 #2; tests/video_cases.py).

    .venv/bin/python scripts/fuzz_video_roundtrip.py --cases 200 --seed 1

Draws random cases (codec, container, frame rate 1-12,800, time base, 1-3 frames, odd sizes, rotation,
audio, timestamp gaps / duplicates, B-frames, output container, lossless or lossy, payload coding),
writes the input, anonymizes it with a fixed face box and, whenever anonymize succeeds, recovers and
checks: frame-exact (lossless) or face regions exact (lossy). Prints counts: ok (recovered exactly),
refused (anonymize failed cleanly, documented error, nothing written), skipped (FFmpeg cannot write
that input), failures (anonymize succeeded but recovery failed or was not exact), errors (any other
exception: a bug).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from video_cases import CODEC_CONTAINERS, CODINGS, FPS, OUTPUTS, SIZES, TIME_BASES, TIMING, Case, check  # noqa: E402


def draw(rng: random.Random) -> Case:
    codec, container = rng.choice([(c, k) for c, ks in CODEC_CONTAINERS.items() for k in ks])
    return Case(codec=codec, container=container, fps=rng.choice(FPS), time_base=rng.choice(TIME_BASES),
                frames=rng.randint(1, 3), size=rng.choice(SIZES), rotation=rng.choice((0, 90, 180, 270)),
                audio=rng.random() < 0.5, timing=rng.choice(TIMING), bframes=rng.random() < 0.5,
                output=rng.choice(OUTPUTS), lossless=rng.random() < 0.5, coding=rng.choice(CODINGS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: Counter = Counter()
    refusals: Counter = Counter()
    failures = []
    notes: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.cases):
            case = draw(rng)
            try:
                outcome = check(case, Path(tmp, str(n)))
                kind = outcome.split(":")[0]
                counts[kind] += 1
                if kind == "refused":
                    refusals[outcome.split(":")[1].strip()] += 1
                    if "UnrecoverableOutputError" in outcome:  # the guarantee stopped an output: say which
                        notes.append(f"exit 16: {case.label()}: {outcome.split(':', 2)[2].strip()}")
            except AssertionError as exc:
                counts["failures"] += 1
                failures.append(str(exc))
            except Exception:  # noqa: BLE001 - a bug: reported with its case
                counts["errors"] += 1
                failures.append(f"{case.label()}: {traceback.format_exc(limit=3)}")
            if (n + 1) % 20 == 0:
                print(f"{n + 1}/{args.cases}: {dict(counts)}", file=sys.stderr)
    print(f"video round trips: {args.cases} cases (seed {args.seed}) in {time.perf_counter() - started:.0f} s: "
          f"{counts['ok']} ok, {counts['refused']} refused cleanly, {counts['skipped']} skipped (input not writable), "
          f"{counts['failures']} failures, {counts['errors']} errors")
    if refusals:
        print("refusals: " + ", ".join(f"{k}: {v}" for k, v in refusals.most_common()))
    for note in notes:
        print(note)
    for failure in failures:
        print("FAIL " + failure)


if __name__ == "__main__":
    main()
