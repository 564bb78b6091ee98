"""Scale-out benchmark: images/s of `--engine ray` with 1 and 2 workers against the single-process CLI,
on the same generated images (crops, flips and composites of the sample faces, 384-640 px wide).

    .venv/bin/python benchmarks/bench_scale.py [--images 200] [--workers 1 2]

Prints a markdown table: wall time and images/s end to end (process start, Ray start, model loading
included), steady images/s (after the workers are up), per-item overhead of the engine (driver round
trip + manifest + hashing, i.e. wall x workers / items minus the time the single-file code itself took),
and the peak resident memory of each worker process (of the CLI process for the single-process row).
Public-key mode (no Argon2id), mosaic, PNG with the payload embedded, the same for every row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-m", "faceveil", "anonymize", str(src), "-o", str(dst), "-r", str(pub), "--json"],
                         capture_output=True, text=True, env=_env(), check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"single-process CLI failed: {out.stderr[-2000:]}")
    files = json.loads(out.stdout)["files"]
    # "total" is each file's whole time; the other keys are its parts (summing all would count it twice)
    work = sum(_file_seconds(f["timings_s"]) for f in files)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"label": "single-process CLI", "wall": wall, "n": len(files), "steady": len(files) / max(work, 1e-9),
            "overhead": (wall - work) / len(files), "rss_mb": max(rss, before) / 1024, "startup": None}


def _file_seconds(timings: dict) -> float:
    return timings["total"] if "total" in timings else sum(timings.values())


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # peak resident set
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_ray(src: Path, dst: Path, pub: Path, workers: int) -> dict:
    import ray

    from faceveil import scale

    peaks: dict[int, float] = {}
    item_seconds: list[float] = []

    def on_record(record) -> None:
        pid = int(record.worker.rsplit(":", 1)[1])
        peaks[pid] = max(peaks.get(pid, 0.0), _rss_mb(pid))
        item_seconds.append(record.seconds)

    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR")
    init = time.perf_counter() - started
    try:
        summary = scale.anonymize(src, dst, cluster=scale.ClusterOptions("ray", workers=workers),
                                  recipients=[pub], progress=False, on_record=on_record)
    finally:
        ray.shutdown()
    wall = time.perf_counter() - started
    if summary.failed:
        raise SystemExit(f"ray run failed: {summary.failures[:3]}")
    steady_wall = summary.seconds - summary.startup_seconds
    return {"label": f"ray, {workers} worker(s)", "wall": wall, "n": summary.ok, "steady": summary.ok / steady_wall,
            "overhead": (steady_wall * workers - sum(item_seconds)) / summary.ok,
            "rss_mb": max(peaks.values()) if peaks else float("nan"), "startup": init + summary.startup_seconds}


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
          f"{os.cpu_count()} CPU(s)\n")
    print("| engine | wall s | images/s (end to end) | images/s (steady) | start-up s | overhead ms/item | peak RSS per worker MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        startup = "-" if r["startup"] is None else f"{r['startup']:.1f}"
        print(f"| {r['label']} | {r['wall']:.1f} | {r['n'] / r['wall']:.2f} | {r['steady']:.2f} | {startup} | "
              f"{1000 * r['overhead']:.0f} | {r['rss_mb']:.0f} |")
    print("\nsingle-process: steady = images / time inside the per-file code; overhead = the rest of the wall time "
          "(interpreter, imports, model loading, listing) per image.")


if __name__ == "__main__":
    main()
