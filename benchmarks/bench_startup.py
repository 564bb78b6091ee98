"""What a user waits for (issue 21): whole processes, cold start, faceveil vs deface 1.5.0 on the same files.

    .venv/bin/python benchmarks/bench_startup.py all       # every table below (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_startup.py photos    # group photos, small portrait: seconds per process
    .venv/bin/python benchmarks/bench_startup.py video     # 720p clip, low-resolution talking heads
    .venv/bin/python benchmarks/bench_startup.py batch     # a folder of 100 photos: images per second
    .venv/bin/python benchmarks/bench_startup.py recall    # key-frame detection vs every frame, camera pans
    .venv/bin/python benchmarks/bench_startup.py startup   # `faceveil --help`, imports of a photo run
    .venv/bin/python benchmarks/bench_startup.py sizes     # photo payload and output sizes vs the input

Each figure times a whole process, started fresh (``faceveil anonymize IN -o OUT`` with the CLI's defaults:
mosaic on CenterFace, an encrypted embedded payload, the passphrase from $FACEVEIL_PASSPHRASE; ``deface
IN -o OUT`` with its defaults: blur, threshold 0.2), runs are **interleaved** (faceveil, deface, faceveil,
...) and the medians of ``--repeats`` (3) rounds are compared after one untimed warm-up round (which
fills the OS file cache and faceveil's cache folder, as any second run of a user would). Ratios are
faceveil / deface wall time: below 1 is faster than deface. Inputs: the real photos and clips that
``../shared/data/dev-faces.sh`` extracts into ~/.cache/faceveil-dev-faces (``--faces DIR``); the 720p
clip and the 112 px portrait are made from them or generated (faceveil.eval.scenes), in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_speed import machine, med, sample_faces, table, track_boxes, write_clip  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"


def tools() -> tuple[list[str], list[str]]:
    """The two commands as a user types them (console scripts beside this interpreter)."""
    bin_dir = Path(sys.executable).parent
    faceveil = [str(bin_dir / "faceveil")] if (bin_dir / "faceveil").exists() else [sys.executable, "-m", "faceveil"]
    deface = str(bin_dir / "deface") if (bin_dir / "deface").exists() else shutil.which("deface")
    if deface is None:
        sys.exit("deface is not installed (scripts/install.sh installs deface 1.5.0)")
    return faceveil, [deface]


def child_env() -> dict:
    env = dict(os.environ, FACEVEIL_PASSPHRASE=PASSPHRASE, PYTHONPATH=os.pathsep.join(
        p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's installs keep their .pyc files
    return env


def timed(cmd: list[str], before=None) -> float:
    if before is not None:
        before()
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


def compare(cases: dict[str, tuple[list[str], list[str], object]], repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    """{case: (faceveil cmd, deface cmd, before-each-deface-run or None)} -> {case: (faceveil times, deface times)}."""
    out = {}
    for name, (fv, df, before) in cases.items():
        timed(fv), timed(df, before)  # warm-up round
        times = ([], [])
        for _ in range(repeats):
            times[0].append(timed(fv))
            times[1].append(timed(df, before))
        out[name] = times
    return out


def ratio_rows(results, target: float, unit=None) -> list[list]:
    rows = []
    for name, (fv, df) in results.items():
        r = med(fv) / med(df)
        cells = [name, f"{med(fv):.2f} ({min(fv):.2f}-{max(fv):.2f})", f"{med(df):.2f} ({min(df):.2f}-{max(df):.2f})"]
        if unit is not None:
            cells += [f"{unit[name] / med(fv):.1f}", f"{unit[name] / med(df):.1f}"]
        rows.append(cells + [f"**{r:.2f}**", f"≤ {target}", "met" if r <= target else "missed"])
    return rows


def faces_dir(args) -> Path:
    path = Path(args.faces).expanduser()
    if not (path / "group1.jpg").exists():
        sys.exit(f"{path}: no dev faces; run ../shared/data/dev-faces.sh (or pass --faces DIR)")
    return path


def header(args, what: str) -> str:
    return (f"machine: {machine()}\n{what}. Whole processes, cold start, interleaved, median (min-max) of "
            f"{args.repeats} rounds after a warm-up; command: `python benchmarks/bench_startup.py {args.command}`.\n\n")


# -- photos -----------------------------------------------------------------------------------------

def small_portrait(src: Path, dst: Path, side: int = 112) -> Path:
    from PIL import Image

    with Image.open(src) as im:
        im.convert("RGB").resize((side, round(side * im.height / im.width)), Image.LANCZOS).save(dst, quality=90)
    return dst


def bench_photos(args) -> str:
    faces = faces_dir(args)
    fv, df = tools()
    with tempfile.TemporaryDirectory(prefix="faceveil-startup-") as tmp:
        tmp = Path(tmp)
        inputs = {
            "group photo 1000x667, 5 faces (multi_face.jpg)": faces / "multi_face.jpg",
            "group photo 640x425, 7 faces (group1.jpg)": faces / "group1.jpg",
            "small portrait 112x112 (0-f1-su-ph.jpg downscaled)": small_portrait(faces / "0-f1-su-ph.jpg", tmp / "portrait.jpg"),
        }
        cases = {name: ([*fv, "anonymize", str(p), "-o", str(tmp / f"fv{i}.jpg"), "--overwrite", "-q"],
                        [*df, str(p), "-o", str(tmp / f"df{i}.jpg")], None)
                 for i, (name, p) in enumerate(inputs.items())}
        results = compare(cases, args.repeats)
    return header(args, "Photos (JPEG in, JPEG out)") + table(
        ["photo", "faceveil s", "deface s", "faceveil / deface", "goal", ""], ratio_rows(results, 0.5))


# -- video ------------------------------------------------------------------------------------------

def downscaled_clip(src: Path, dst: Path, width: int, seconds: float) -> Path:
    """``src``'s first ``seconds`` at ``width`` px wide (aspect kept), H.264 CRF 23: a low-resolution talking head."""
    import av
    import cv2

    frames, fps = [], 25
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            height = round(rgb.shape[0] * width / rgb.shape[1] / 2) * 2
            frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) >= seconds * fps:
                break
    return write_clip(dst, frames, fps, crf="23", preset="medium")


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def bench_video(args) -> str:
    from faceveil.eval.scenes import moving_clip

    faces = faces_dir(args)
    fv, df = tools()
    with tempfile.TemporaryDirectory(prefix="faceveil-startup-") as tmp:
        tmp = Path(tmp)
        clip = moving_clip(sample_faces(), (720, 1280), 50, faces=3, face_width=110, seed=3)
        inputs = {
            "720p, 50 frames, 3-4 moving faces (generated)": write_clip(tmp / "pan720.mp4", clip.frames),
            "talking head 640x360, 2.4 s (single_face.mp4)": faces / "single_face.mp4",
            "talking head 320x180, 10 s (WolfgangLanger_Pexels.mp4 downscaled)": downscaled_clip(
                faces / "WolfgangLanger_Pexels.mp4", tmp / "head320.mp4", 320, 10),
        }
        frames = {name: frame_count(p) for name, p in inputs.items()}
        cases = {name: ([*fv, "anonymize", str(p), "-o", str(tmp / f"fv{i}.mp4"), "--overwrite", "-q"],
                        [*df, str(p), "-o", str(tmp / f"df{i}.mp4")], None)
                 for i, (name, p) in enumerate(inputs.items())}
        results = compare(cases, args.repeats)
        sizes = []
        for i, (name, p) in enumerate(inputs.items()):
            sidecar = tmp / f"fv{i}.mp4.faceveil"
            seconds = frames[name] / _fps(p)
            payload = sidecar.stat().st_size if sidecar.exists() else 0
            sizes.append([name, f"{p.stat().st_size / seconds * 60 / 1e6:.2f}", f"{payload / seconds * 60 / 1e6:.2f}",
                          f"{payload / p.stat().st_size:.2f}"])
    return (header(args, "Video (MP4 in, MP4 out; faceveil's payload goes to a sidecar beside an .mp4)")
            + table(["clip", "faceveil s", "deface s", "faceveil fps", "deface fps", "faceveil / deface", "goal", ""],
                    ratio_rows(results, 0.5, frames))
            + "\n\nPayload size of the same runs (`--payload-coding auto`, the default):\n\n"
            + table(["clip", "input MB/min", "payload MB/min", "payload / input"], sizes))


def _fps(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate or 25)


# -- batch ------------------------------------------------------------------------------------------

def bench_batch(args) -> str:
    faces = faces_dir(args)
    fv, df = tools()
    photos = sorted(p for p in faces.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size < 1_000_000)
    with tempfile.TemporaryDirectory(prefix="faceveil-startup-") as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        src.mkdir()
        for i in range(args.photos):
            shutil.copy(photos[i % len(photos)], src / f"{i:03d}_{photos[i % len(photos)].name}")
        work = tmp / "deface-in"

        def fresh_deface_folder():  # deface writes beside its inputs and would read its outputs next time
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(src, work)

        name = f"{args.photos} photos ({len(photos)} distinct dev-face JPEGs, 17 kB-600 kB)"
        cases = {name: ([*fv, "anonymize", str(src), "-o", str(tmp / "fv-out"), "--overwrite", "-q"],
                        [*df, str(work)], fresh_deface_folder)}
        results = compare(cases, args.repeats)
    rows = []
    for case, (f, d) in results.items():
        fps_f, fps_d = args.photos / med(f), args.photos / med(d)
        rows.append([case, f"{med(f):.1f}", f"{med(d):.1f}", f"{fps_f:.1f}", f"{fps_d:.1f}", f"**{fps_f / fps_d:.2f}x**",
                     "≥ 2x", "met" if fps_f / fps_d >= 2 else "missed"])
    return header(args, "A folder of photos, one process each tool") + table(
        ["folder", "faceveil s", "deface s", "faceveil images/s", "deface images/s", "speed-up", "goal", ""], rows)


# -- recall -----------------------------------------------------------------------------------------

def pan_clip(samples, size: tuple[int, int], count: int, pan: int, faces: int = 6, face_width: float = 90, seed: int = 0):
    """A camera pan of ``pan`` px per frame over a wide scene with ``faces`` faces: faces enter at the right
    edge and leave at the left one while the camera moves (truths in frame coordinates)."""
    from faceveil.eval.scenes import background, paste_face, visible
    from faceveil.faces.types import Face

    height, width = size
    wide = width + pan * count
    rng = np.random.default_rng(seed)
    canvas = background(height, wide, seed=seed)
    truths_wide = []
    names = list(samples)
    for i in range(faces):
        cx = wide * (i + 0.5) / faces  # spread over the whole pan: some leave at the left, some enter at the right
        cy = rng.uniform(0.3, 0.7) * height
        canvas, truth = paste_face(canvas, samples[names[i % len(names)]], (cx, cy), face_width * rng.uniform(0.8, 1.2),
                                   rng.uniform(-15, 15))
        truths_wide.append(truth)
    frames, truths = [], []
    for t in range(count):
        x = pan * t
        frame = np.ascontiguousarray(canvas[:, x : x + width])
        frame = np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
        present = []
        for f in truths_wide:
            moved = Face(box=(f.box[0] - x, f.box[1], f.box[2] - x, f.box[3]),
                         landmarks=None if f.landmarks is None else f.landmarks - [x, 0], score=f.score)
            if visible(moved, height, width):
                present.append(moved)
        frames.append(frame)
        truths.append(present)
    return frames, truths


def bench_recall(args) -> str:
    from faceveil.eval.scenes import moving_clip, recall
    from faceveil.faces.detect import CenterFaceDetector

    samples = sample_faces()
    detector = CenterFaceDetector()
    rows = []
    scenes = {f"camera pan {pan} px/frame, 8 faces entering and leaving": pan_clip(samples, (360, 640), 90, pan, faces=8)
              for pan in (3, 6, 12)}
    clip = moving_clip(samples, (360, 640), 90, faces=3, face_width=90, seed=3)
    scenes["faces drifting up to 4 px/frame, one popping in, one leaving"] = (clip.frames, clip.truths)
    for name, (frames, truths) in scenes.items():
        every_frame = [[f.box for f in detector.detect(rgb)] for rgb in frames]
        tracked1 = track_boxes(frames, detector, 1)
        tracked3 = track_boxes(frames, detector, 3)
        missed = sum(1 for ref, got in zip(every_frame, tracked3) for box in ref if not _covers(box, got))
        rows.append([name, sum(map(len, truths)), f"{recall(truths, every_frame):.3f}", f"{recall(truths, tracked1):.3f}",
                     f"{recall(truths, tracked3):.3f}", missed])
    return (f"machine: {machine()}\n640x360, 90 frames each, faces 70-110 px; recall = share of true (face, frame) "
            "pairs whose eyes, nose and mouth lie in an anonymized box (faceveil.eval.scenes.covered). In-process "
            "(detector + tracker only, as in faceveil.pipeline.video); command: `python benchmarks/bench_startup.py recall`.\n\n"
            + table(["scene", "face-frames", "detection on every frame (no tracker)", "tracker, detect every frame",
                     "tracker, key frames every 3 (default)", "every-frame detections the default misses"], rows))


def _covers(box, boxes) -> bool:
    """A detection ``box`` lies mostly (≥ 80 %) inside one of ``boxes``."""
    x0, y0, x1, y1 = box
    area = max(x1 - x0, 0) * max(y1 - y0, 0)
    for b in boxes:
        w = min(x1, b[2]) - max(x0, b[0])
        h = min(y1, b[3]) - max(y0, b[1])
        if area and w > 0 and h > 0 and w * h >= 0.8 * area:
            return True
    return False


# -- photo sizes ------------------------------------------------------------------------------------

def bench_sizes(args) -> str:
    """Goal 2: payload ≤ input, output including payload ≤ 1.5x the input (CLI defaults, JPEG in and out)."""
    faces = faces_dir(args)
    fv, _ = tools()
    names = ["multi_face.jpg", "group1.jpg", "group3.jpg", "0-f1-su-ph.jpg", "lena.jpg", "obama.jpg", "biden.jpg",
             "BWPictureHuman.jpg", "basketball1.png"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="faceveil-sizes-") as tmp:
        tmp = Path(tmp)
        for name in names:
            src = faces / name
            if not src.exists():
                continue
            out, bare = tmp / f"o_{name}", tmp / f"n_{name}"
            for dst, extra in ((out, []), (bare, ["--payload", "none"])):
                subprocess.run([*fv, "anonymize", str(src), "-o", str(dst), "-q", *extra], env=child_env(), check=True,
                               capture_output=True)
            import json

            info = json.loads(subprocess.run([*fv, "inspect", str(out), "--json"], env=child_env(), check=True,
                                             capture_output=True, text=True).stdout)
            info = info[0] if isinstance(info, list) else info
            size, payload = src.stat().st_size, info["payload_bytes"]
            coding = "original file" if info.get("original_file") else f"{info['regions']} regions"
            rows.append([name, f"{size / 1e3:.1f}", f"{bare.stat().st_size / 1e3:.1f}", f"{payload / 1e3:.1f} ({coding})",
                         f"{payload / size:.3f}", f"**{out.stat().st_size / size:.2f}**",
                         "met" if payload <= size else f"over by {payload - size} B",
                         "met" if out.stat().st_size <= 1.5 * size else "missed"])
    return (f"Photo sizes with the CLI's defaults (mosaic, embedded payload, JPEG output quality matched to a JPEG "
            f"input's tables); command: `python benchmarks/bench_startup.py sizes`.\n\n"
            + table(["photo", "input kB", "output without payload kB", "payload kB", "payload / input",
                     "output with payload / input", "payload ≤ input", "output ≤ 1.5x input"], rows))


# -- start-up ---------------------------------------------------------------------------------------

def bench_startup(args) -> str:
    faces = faces_dir(args)
    fv, df = tools()
    rows = []
    help_times = [timed([*fv, "--help"]) for _ in range(args.repeats + 1)][1:]
    deface_help = [timed([*df, "--help"]) for _ in range(args.repeats + 1)][1:]
    rows.append(["`--help`", f"{med(help_times):.2f}", f"{med(deface_help):.2f}", "≤ 0.3 s",
                 "met" if med(help_times) <= 0.3 else "missed"])
    probe = ("import sys; from faceveil.cli import main; main(sys.argv[1:]); "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'onnx', 'ml_dtypes'})) or 'none')")
    with tempfile.TemporaryDirectory(prefix="faceveil-startup-") as tmp:
        out = subprocess.run([sys.executable, "-c", probe, "anonymize", str(faces / "group1.jpg"), "-o",
                              str(Path(tmp) / "o.jpg"), "-q"], env=child_env(), capture_output=True, text=True)
    heavy = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else f"error: {out.stderr[-200:]}"
    rows.append(["heavy modules a photo run imports (torch, onnx)", heavy, "", "none", "met" if heavy == "none" else "missed"])
    return header(args, "Start-up") + table(["what", "faceveil", "deface", "goal", ""], rows)


COMMANDS = {"startup": bench_startup, "sizes": bench_sizes, "photos": bench_photos, "batch": bench_batch, "video": bench_video,
            "recall": bench_recall}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=[*COMMANDS, "all"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photos", type=int, default=100, help="batch: folder size")
    parser.add_argument("--faces", default="~/.cache/faceveil-dev-faces", help="the dev faces folder")
    args = parser.parse_args(argv)
    for name, fn in COMMANDS.items():
        if args.command in (name, "all"):
            print(f"## {name}\n\n{fn(args)}\n", flush=True)


if __name__ == "__main__":
    main()
