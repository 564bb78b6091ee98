"""Fuzz `faceveil recover` with forged, authenticated source-coded video payloads (issue 22 #3).

    .venv/bin/python scripts/fuzz_forged_payloads.py --cases 300 --seed 1

Each case applies 1-3 random hostile changes (tests/forge_helpers.py: packet bytes, sizes, order and
timestamps; records; stray bytes; the decoder description) to a real payload, re-seals it with the
payload's content key (so it authenticates, as anyone holding the recipient's public key could) and
runs `faceveil recover` on it in-process. A failure: a traceback or exit 1 (internal error), an error
of more than one stderr line, an output file after a non-zero exit, or a case still running after --timeout seconds
(the whole run is one child process per --batch cases, killed on timeout). Prints the counts per exit
code and the failures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

ALLOWED = {0, 3, 5, 7, 8, 14}  # success, or a documented refusal (input, corrupt, tampered, mismatch)


def make_base(folder: Path, seconds: float = 0.6) -> tuple[Path, Path]:
    """A 320x240 H.264 clip (B-frames: preset fast) anonymized with --payload-coding source into an MP4 +
    sidecar, for the X25519 key in ``folder/key.pem`` (opening costs nothing, unlike a passphrase)."""
    from faceveil.crypto.keys import X25519Identity
    from faceveil.pipeline.video import VideoOptions, anonymize_video
    from faceveil.testing import write_synthetic_clip

    identity = X25519Identity.generate()
    identity.save(folder / "key.pem")
    clip = write_synthetic_clip(folder / "clip.mp4", seconds=seconds, noise=2.0, audio_codec=None, preset="fast")
    anon = folder / "anon.mp4"
    anonymize_video(clip.path, anon, method="mosaic", recipients=[identity.recipient],
                    options=VideoOptions(payload="sidecar", payload_coding="source"))
    return anon, Path(str(anon) + ".faceveil")


def child(args) -> None:
    """Run the given cases in this process; one JSON line per case."""
    import contextlib
    import io
    import random

    from faceveil.cli import main
    from faceveil.crypto.keys import X25519Identity
    from forge_helpers import forged_payload

    folder = Path(args.folder)
    anon, side = Path(args.video), Path(args.sidecar)
    blob = side.read_bytes()
    identity = X25519Identity.from_file(folder / "key.pem")
    recipient = identity.recipient
    for case in range(args.start, args.start + args.count):
        rng = random.Random(args.seed * 1_000_003 + case)
        forged, names = forged_payload(blob, identity, recipient, rng, folder / "chunks.tmp", changes=rng.randint(1, 3))
        payload = folder / f"forged{case}.fvv"
        payload.write_bytes(forged)
        out = folder / f"back{case}.mp4"
        err = io.StringIO()
        print(json.dumps({"case": case, "started": True, "changes": names}), flush=True)
        with contextlib.redirect_stderr(err):
            code = main(["recover", str(anon), "-o", str(out), "--payload-file", str(payload), "--key",
                         str(folder / "key.pem"), "-q"])
        text = err.getvalue()
        print(json.dumps({"case": case, "changes": names, "code": code, "stderr": text, "output": out.exists()}), flush=True)
        payload.unlink()
        out.unlink(missing_ok=True)


def run(cases: int, seed: int, timeout: float, batch: int = 25, quiet: bool = False) -> dict:
    results = {"cases": 0, "failures": [], "codes": {}, "changes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        anon, side = make_base(folder)
        start = 0
        while start < cases:
            count = min(batch, cases - start)
            cmd = [sys.executable, __file__, "--child", "--folder", tmp, "--video", str(anon), "--sidecar", str(side),
                   "--seed", str(seed), "--start", str(start), "--count", str(count)]
            env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * count + 60, env=env)
                lines, timed_out = done.stdout.splitlines(), False
            except subprocess.TimeoutExpired as exc:
                lines, timed_out = (exc.stdout or b"").decode().splitlines() if isinstance(exc.stdout, bytes) else (exc.stdout or "").splitlines(), True
            finished = set()
            last_started = None
            for line in lines:
                row = json.loads(line)
                if row.get("started"):
                    last_started = row
                    continue
                finished.add(row["case"])
                results["cases"] += 1
                results["codes"][row["code"]] = results["codes"].get(row["code"], 0) + 1
                for name in row["changes"]:
                    results["changes"][name] = results["changes"].get(name, 0) + 1
                problem = None
                if row["code"] not in ALLOWED:
                    problem = f"exit {row['code']}"
                elif "Traceback" in row["stderr"] or (row["code"] != 0 and row["stderr"].count("\n") > 1):
                    problem = "not one line"
                elif row["code"] != 0 and row["output"]:
                    problem = "output written after a failure"
                if problem:
                    results["failures"].append({"case": row["case"], "problem": problem, "changes": row["changes"],
                                                "stderr": row["stderr"].strip()})
            if timed_out or len(finished) < count:
                results["cases"] += 1
                results["failures"].append({"case": last_started and last_started["case"], "problem": "hang or crash",
                                            "changes": last_started and last_started["changes"]})
                # the cases after the stuck one start again in the next batch
                start = (last_started["case"] + 1) if last_started else start + count
                continue
            start += count
            if not quiet:
                print(f"{start}/{cases} cases, {len(results['failures'])} failures", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", "--video", "--sidecar", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        extra = argparse.ArgumentParser()
        extra.add_argument("--folder")
        extra.add_argument("--video")
        extra.add_argument("--sidecar")
        known, _ = extra.parse_known_args()
        args.folder, args.video, args.sidecar = known.folder, known.video, known.sidecar
        child(args)
        return
    results = run(args.cases, args.seed, args.timeout)
    print(f"forged authenticated payloads: {results['cases']} cases, {len(results['failures'])} failures")
    print("exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(results["codes"].items())))
    print("changes applied: " + ", ".join(f"{k}: {v}" for k, v in sorted(results["changes"].items())))
    for failure in results["failures"]:
        print(json.dumps(failure))


if __name__ == "__main__":
    main()
