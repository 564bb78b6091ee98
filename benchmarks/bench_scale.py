"""Scale-out benchmark: images/s of `--engine ray` with 1 and 2 workers against the single-process CLI,
on the same generated images (crops, flips and composites of the sample faces, 384-640 px wide).

    .venv/bin/python benchmarks/bench_scale.py [--images 200] [--workers 1 2]

Every row runs the CLI as a new process (the user's path, cold start). Prints a markdown table: wall
time and images/s end to end, steady images/s (after the first outcome), start-up, per-item work, and
the engine's overhead per item (Ray Data scheduling, rows to and from the workers, the driver's
manifest: on each worker, the gap between consecutive items' ends minus the item's own work, median).
Public-key mode (no Argon2id), mosaic, PNG with the payload embedded, the same for every row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, count: int) -> None:
    from faceveil.eval.samples import load_sample

    a, g = load_sample("astronaut"), load_sample("grace_hopper")
    crops = [a[:384, 64:448], g[:448, 64:512], a[:, ::-1], g[::-1][::-1, ::-1]]
    rng = np.random.default_rng(0)
    for i in range(count):
        base = crops[i % len(crops)]
        if i % 5 == 4:  # a two-face composite every fifth image
            other = np.asarray(Image.fromarray(np.ascontiguousarray(crops[(i + 1) % len(crops)])).resize(base.shape[1::-1]))
            base = np.concatenate([base, other], axis=1)
        img = np.clip(base.astype(np.int16) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"batch{i // 50:02d}" / f"img{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_cli(src: Path, dst: Path, pub: Path) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "faceveil", "anonymize", str(src), "-o", str(dst), "-r", str(pub), "--json"],
                         capture_output=True, text=True, env=_env(), check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"single-process CLI failed: {out.stderr[-2000:]}")
    files = json.loads(out.stdout)["files"]
    # "total" is each file's whole time; the other keys are its parts (summing all would count it twice)
    work = sum(_file_seconds(f["timings_s"]) for f in files)
    return {"label": "--engine local (CLI)", "wall": wall, "n": len(files), "steady": len(files) / max(work, 1e-9),
            "overhead": None, "startup": wall - work, "per_item": work / len(files)}


def _file_seconds(timings: dict) -> float:
    return timings["total"] if "total" in timings else sum(timings.values())


def run_ray(src: Path, dst: Path, pub: Path, workers: int) -> dict:
    """The user's path: `faceveil anonymize SRC -o DST --engine ray --workers N --json` as a new process
    (Python start, imports, a local Ray runtime, workers loading models: all in the wall time)."""
    from faceveil.scale.location import Location
    from faceveil.scale.manifest import Manifest

    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "faceveil", "anonymize", str(src), "-o", str(dst), "-r", str(pub),
                          "--engine", "ray", "--workers", str(workers), "--json"],
                         capture_output=True, text=True, env=_env(), check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"ray run failed: {out.stderr[-2000:]}")
    summary = json.loads(out.stdout)
    records = list(Manifest(Location.parse(dst), "bench").records())
    item_seconds = sum(r.seconds for r in records)  # time inside the worker's per-item code
    # per-item engine overhead, measured directly: on each worker, the time between one item's end and
    # the next one's end, minus the next one's own work (Ray Data hand-over, rows to and from the
    # worker); the median over all consecutive pairs, so start-up never enters it
    gaps = []
    for worker in {r.worker for r in records}:
        done = sorted((r for r in records if r.worker == worker), key=lambda r: r.finished)
        gaps += [b.finished - a.finished - b.seconds for a, b in zip(done, done[1:]) if b.finished > a.finished]
    steady_wall = summary["seconds"] - summary["startup_seconds"]
    n = summary["ok"]
    return {"label": f"ray, {workers} worker(s)", "wall": wall, "n": n, "steady": n / max(steady_wall, 1e-9),
            # engine overhead per item: worker-time not spent in the per-item code (Ray Data scheduling,
            # transfer of rows, the driver's manifest), with the first item's start-up left out
            "overhead": float(np.median(gaps)) if gaps else float("nan"),
            "startup": wall - (summary["seconds"] - summary["startup_seconds"]),
            "per_item": item_seconds / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from faceveil import api

    with tempfile.TemporaryDirectory(prefix="faceveil-bench-scale-") as tmp:
        tmp = Path(tmp)
        make_images(tmp / "src", args.images)
        api.keygen(tmp / "bench.key")
        pub = tmp / "bench.key.pub"
        rows = [run_cli(tmp / "src", tmp / "cli", pub)]
        for w in args.workers:
            rows.append(run_ray(tmp / "src", tmp / f"ray{w}", pub, w))
            shutil.rmtree(tmp / f"ray{w}")
    print(f"{args.images} generated images (384-1024 px wide, 1-2 faces), mosaic, public-key payload, "
          f"{os.cpu_count()} CPU(s), load average before the run {os.getloadavg()[0]:.1f}\n")
    print("| engine | wall s | images/s (end to end) | images/s (steady) | start-up s | per-item work ms | engine overhead ms/item |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        overhead = "-" if r["overhead"] is None else f"{1000 * r['overhead']:.0f}"
        print(f"| {r['label']} | {r['wall']:.1f} | {r['n'] / r['wall']:.2f} | {r['steady']:.2f} | {r['startup']:.1f} | "
              f"{1000 * r['per_item']:.0f} | {overhead} |")
    print("\nEvery row is one `faceveil anonymize` process (cold start). start-up = wall time not spent in "
          "per-item work (local: interpreter, imports, model loading, listing; ray: the same plus the Ray "
          "runtime, the workers and the time until the first outcome). per-item work = time inside the "
          "single-file code (local: the files' total timings; ray: the records' seconds, per worker). "
          "engine overhead = on each worker, the median over consecutive items of (end of item - end of the "
          "previous one - the item's own work): what the Ray engine adds per item, start-up excluded.")


if __name__ == "__main__":
    main()
