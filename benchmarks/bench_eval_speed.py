"""`faceveil eval` speed through the user's path (issue 20, item 7), in one command.

Runs ``faceveil eval --method M --data <10 faces> --seed 0`` as a fresh process (cold start: model loading
included) with the CLI's defaults (every available recognizer, the default detection-rate detectors,
dlib 68 landmarks, FaceMesh), and prints wall time, the process's CPU time, faces measured and the
machine's load, so a figure taken on a shared machine can be read for what it is. The 10 faces: the dev
faces' multi_face.jpg (5 faces) and five single portraits (the selection set, docs/eval.md).

Usage: python benchmarks/bench_eval_speed.py [--method mosaic] [--threads N] [--runs 1]
``--threads N`` sets OMP_NUM_THREADS for the child (default: unset, eval chooses; see docs/eval.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FACES = ("multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="mosaic")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    src = Path(os.environ.get("FACEVEIL_DEV_FACES", Path.home() / ".cache" / "faceveil-dev-faces"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "faces"
        data.mkdir()
        for name in FACES:
            if not (src / name).is_file():
                sys.exit(f"bench_eval_speed: {src / name} missing: run bash ../shared/data/dev-faces.sh")
            (data / name).symlink_to(src / name)
        env = dict(os.environ)
        if args.threads is not None:
            env["OMP_NUM_THREADS"] = str(args.threads)
        for run in range(args.runs):
            out = Path(tmp) / f"out{run}"
            load = os.getloadavg()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "faceveil.eval.cli", "--method", args.method, "--data", str(data),
                                   "--seed", "0", "-o", str(out), "-q"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                sys.exit(f"bench_eval_speed: eval failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
            metrics = json.loads((out / "metrics.json").read_text())
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            rows.append((run, len(metrics["per_face"]), len(metrics.get("small_faces", [])), wall, cpu, load))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\nfaceveil eval --method {args.method}, {cores} cores, OMP_NUM_THREADS={args.threads or 'unset'}\n")
    print("| run | faces measured | faces < 30 px (apart) | wall s | CPU s (user+sys) | load avg at start |")
    print("|---|---|---|---|---|---|")
    for run, faces, small, wall, cpu, load in rows:
        print(f"| {run} | {faces} | {small} | {wall:.1f} | {cpu:.1f} | {load:.1f} |")


if __name__ == "__main__":
    main()
