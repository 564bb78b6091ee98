"""Video throughput: faceveil (per method) vs deface, on the same generated clips, in one run.

    .venv/bin/python benchmarks/bench_video.py                       # 720p + 1080p, 1 s each
    .venv/bin/python benchmarks/bench_video.py --seconds 3 --sizes 1080p --methods mosaic,proface-s

Each clip is a real face (skimage's astronaut, ~45 % of the frame height) moving over a moving
background with sensor noise and an AAC track, encoded as H.264. For every method faceveil runs the
full reversible pipeline (decode → CenterFace → tracking → method → H.264 CRF 18 → encrypted region
payload as sidecar) and we report end-to-end frames per second, the time split, and the payload
size per minute. ``deface`` (the PyPI reference peer: CenterFace + blur, no tracking, not reversible)
blurs the same clip through its CLI; its fixed start-up cost (imports, model load, measured on a
one-frame clip of the same size) is reported and subtracted so both columns measure steady-state fps.

Threads: faceveil's detector and torch use one thread (``--threads``); deface lets onnxruntime use
every core. The table says which device each number comes from.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
DEFAULT_METHODS = "mosaic,blur,pixelate,median,solid,proface-s"


@dataclass
class Row:
    size: str
    tool: str
    frames: int
    seconds: float
    fps: float
    split: str = ""
    payload_mb_per_min: float | None = None
    note: str = ""


def _device(threads: int) -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU {torch.cuda.get_device_name(0)} (+CPU {platform.processor() or platform.machine()})"
    except ImportError:
        pass
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, faceveil threads={threads}"


def load_method(name: str):
    """Create and warm up a method outside the timings (learned methods load weights on first use).
    Returns (method, None) or (None, reason it is unavailable)."""
    import numpy as np

    from faceveil.crypto.envelope import ContentKey
    from faceveil.errors import FaceveilError
    from faceveil.faces.types import Face
    from faceveil.methods.base import create_method
    from faceveil.pipeline import face_contexts

    try:
        method = create_method(name)
        crop = np.full((method.crop_size, method.crop_size, 3), 128, np.uint8)
        method.anonymize([crop], face_contexts([Face((0.0, 0.0, 10.0, 10.0))], ContentKey.generate()))
    except FaceveilError as exc:  # e.g. a learned method without its weights
        return None, str(exc).splitlines()[0][:70]
    return method, None


def bench_faceveil(clip: Path, size: str, name: str, detector, workdir: Path) -> Row:
    from faceveil.crypto.keys import X25519Identity
    from faceveil.pipeline.video import VideoOptions, anonymize_video

    method, problem = load_method(name)
    if method is None:
        return Row(size, f"faceveil {name}", 0, 0.0, 0.0, note=f"skipped: {problem}")
    out = workdir / f"{size}-{name}.mp4"
    report = anonymize_video(clip, out, method=method, detector=detector, overwrite=True,
                             recipients=[X25519Identity.generate().recipient], options=VideoOptions(payload="sidecar"))
    t = report.timings
    split = " ".join(f"{k}={t[k] / report.frames * 1000:.0f}" for k in ("decode", "detect", "anonymize", "encode", "payload"))
    return Row(size, f"faceveil {name}", report.frames, t["total"], report.processing_fps, split + " ms/frame",
               report.payload_bytes_per_minute / 1e6)


def bench_deface(clip: Path, one_frame: Path, size: str, frames: int, workdir: Path) -> Row:
    exe = Path(sys.executable).with_name("deface")
    if not exe.exists() and shutil.which("deface") is None:
        return Row(size, "deface blur", 0, 0.0, 0.0, note="skipped: deface not installed")
    exe_path = str(exe) if exe.exists() else shutil.which("deface")

    def run(src: Path) -> float:
        out = workdir / f"deface-{src.stem}.mp4"
        t = time.perf_counter()
        subprocess.run([exe_path, str(src), "-o", str(out), "--replacewith", "blur", "--keep-audio"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t

    startup = run(one_frame)
    total = run(clip)
    steady = max(total - startup, 1e-6)
    return Row(size, "deface blur", frames, total, frames / steady, f"start-up {startup:.1f} s subtracted",
               note="not reversible, no tracking")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720p,1080p", help=f"comma list of {', '.join(SIZES)}")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length (25 fps)")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for learned methods")
    parser.add_argument("--no-deface", action="store_true")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from faceveil.faces.detect import create_detector
    from faceveil.testing import write_synthetic_clip

    detector = create_detector("centerface", intra_op_threads=args.threads)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="faceveil-bench-") as tmp:
        workdir = Path(tmp)
        for size in args.sizes.split(","):
            width, height = SIZES[size]
            face = int(height * 0.45)
            clip = write_synthetic_clip(workdir / f"{size}.mp4", size=(width, height), face_height=face,
                                        seconds=args.seconds, noise=2.0, crf=20)
            one = write_synthetic_clip(workdir / f"{size}-1f.mp4", size=(width, height), face_height=face,
                                       seconds=1 / 25, noise=2.0)
            detector.detect(clip_first_frame(clip.path))  # load the model outside the timings
            for method in args.methods.split(","):
                rows.append(bench_faceveil(clip.path, size, method, detector, workdir))
                print_row(rows[-1], flush=True)
            if not args.no_deface:
                rows.append(bench_deface(clip.path, one.path, size, clip.frames, workdir))
                print_row(rows[-1], flush=True)
    print()
    print(f"device: {_device(args.threads)}")
    print_table(rows)


def clip_first_frame(path: Path):
    from faceveil.io.video import iter_frames

    return next(iter(iter_frames(path))).rgb


def print_row(row: Row, flush: bool = False) -> None:
    print(f"  {row.size:>6} {row.tool:<22} {row.fps:6.2f} fps  {row.note}", file=sys.stderr, flush=flush)


def print_table(rows: list[Row]) -> None:
    header = f"| size  | tool                 | frames | wall s | fps   | payload MB/min | time split / note |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        payload = f"{r.payload_mb_per_min:.1f}" if r.payload_mb_per_min is not None else "-"
        detail = "; ".join(x for x in (r.split, r.note) if x)
        print(f"| {r.size:<5} | {r.tool:<20} | {r.frames:>6} | {r.seconds:6.1f} | {r.fps:5.2f} | {payload:>14} | {detail} |")


if __name__ == "__main__":
    main()
