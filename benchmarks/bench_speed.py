"""Speed vs the peers at equal output (issue 16): one command per table, markdown on stdout.

    .venv/bin/python benchmarks/bench_speed.py photos    # faceveil vs deface on photos: time + recall
    .venv/bin/python benchmarks/bench_speed.py video     # faceveil vs deface on a 720p clip: fps + recall
    .venv/bin/python benchmarks/bench_speed.py learned   # PRO-Face S / G2Face fast path vs eager fp32 reference
    .venv/bin/python benchmarks/bench_speed.py growth    # time vs megapixels / face count, fps vs resolution

Every comparison is **interleaved** (A, B, A, B, ...) and reports medians and the ratio of medians:
on a shared CPU the load from other processes changes during a run, and interleaving exposes both
tools to the same load. Inputs are generated (faceveil.eval.scenes): the sample faces (astronaut,
grace_hopper) composited at known boxes into face-free backgrounds, so recall is measured, not
assumed: the fraction of (face, frame) pairs whose eyes, nose and mouth lie inside a box the tool
anonymizes (faceveil.eval.scenes.covered). deface runs in-process through its own functions
(``image_detect`` / ``video_detect``, its CenterFace session, blur), faceveil through its API
(anonymize with the mosaic method and an encrypted recovery payload), both reading and writing files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# -- shared helpers ---------------------------------------------------------------------------------

def machine() -> str:
    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores visible, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Run every function once to warm up, then ``repeats`` rounds of all of them in turn."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def quiet():
    """deface prints a provider line and tqdm bars: keep stdout for the tables."""
    return contextlib.redirect_stderr(io.StringIO())


def deface_session():
    with contextlib.redirect_stdout(io.StringIO()):
        from deface.centerface import CenterFace

        return CenterFace(in_shape=None, backend="onnxrt")


def sample_faces():
    from faceveil.eval.scenes import load_sample_faces
    from faceveil.faces.detect import CenterFaceDetector

    return load_sample_faces(CenterFaceDetector())


def write_image(path: Path, rgb: np.ndarray) -> Path:
    import cv2

    cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 25, *, crf: str = "20", preset: str = "veryfast") -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": crf, "preset": preset}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decoded(path: Path) -> list[np.ndarray]:
    from faceveil.io.video import iter_frames

    return [f.rgb for f in iter_frames(path)]


# -- photos -----------------------------------------------------------------------------------------

MIN_FACE = 64


def photo_scenes(samples) -> dict[str, tuple[np.ndarray, list]]:
    from faceveil.eval.scenes import collage, grid_placements

    scenes = {}
    for label, size, faces, width in (("1280x886, 6 faces", (886, 1280), 6, 150), ("1 MP, 1 face", (1024, 1024), 1, 300),
                                      ("12 MP, 6 faces (72-108 px)", (3000, 4000), 6, 90)):
        scenes[label] = collage(samples, grid_placements(size, faces, width, seed=len(scenes)), size=size, seed=len(scenes))
    return scenes


def bench_photos(args) -> str:
    import deface.deface as dd

    from faceveil.api import Anonymizer, make_recipients
    from faceveil.eval.scenes import recall

    from faceveil.faces.detect import CenterFaceDetector, DetectorConfig

    samples = sample_faces()
    centerface = deface_session()
    recipients = make_recipients(passphrase="bench")
    anonymizer = Anonymizer(method="mosaic", recipients=recipients, payload="embedded")
    # faces that matter >= MIN_FACE px: scanned at RELIABLE_FACE_PX / MIN_FACE of full size (tiles kept)
    sized = Anonymizer(method="mosaic", recipients=recipients, payload="embedded")
    sized.detector = CenterFaceDetector(DetectorConfig(min_face=MIN_FACE))
    rows = []
    with tempfile.TemporaryDirectory(prefix="faceveil-speed-") as tmp:
        tmp = Path(tmp)
        for i, (label, (rgb, truths)) in enumerate(photo_scenes(samples).items()):
            src = write_image(tmp / f"p{i}.jpg", rgb)

            def faceveil_run(src=src, i=i):
                return anonymizer.process_file(src, tmp / f"p{i}.fv.jpg", overwrite=True)

            def sized_run(src=src, i=i):
                return sized.process_file(src, tmp / f"p{i}.fvs.jpg", overwrite=True)

            def deface_run(src=src, i=i):
                with quiet():
                    dd.image_detect(str(src), str(tmp / f"p{i}.df.jpg"), centerface, threshold=0.2, replacewith="blur",
                                    mask_scale=1.3, ellipse=True, draw_scores=False, enable_preview=False, keep_metadata=False)

            times = interleaved({"faceveil": faceveil_run, "sized": sized_run, "deface": deface_run}, args.repeats)
            image = decoded_image(src)
            fv_boxes = [f.box for f in anonymizer.detector.detect(image)]
            sized_boxes = [f.box for f in sized.detector.detect(image)]
            df_boxes = [tuple(d[:4]) for d in centerface(image, threshold=0.2)[0]]
            cell = lambda k: f"{med(times[k]):.2f} ({spread(times[k])})"  # noqa: E731
            rows.append([label, len(truths), cell("faceveil"), cell("sized"), cell("deface"),
                         f"**{med(times['deface']) / med(times['faceveil']):.2f}x**",
                         f"**{med(times['deface']) / med(times['sized']):.2f}x**",
                         f"{recall([truths], [fv_boxes]):.2f} / {recall([truths], [sized_boxes]):.2f} / {recall([truths], [df_boxes]):.2f}"])
    head = ["photo (JPEG in/out)", "faces", "faceveil s", f"faceveil min_face={MIN_FACE} s", "deface s", "speed-up",
            f"speed-up min_face={MIN_FACE}", "recall faceveil / min_face / deface"]
    return (f"machine: {machine()}\ninterleaved, {args.repeats} rounds after a warm-up; seconds per photo, median (min-max)\n\n"
            + table(head, rows))


def decoded_image(path: Path) -> np.ndarray:
    from faceveil.io.images import load_image

    return load_image(path).pixels


# -- video ------------------------------------------------------------------------------------------

def track_boxes(frames: list[np.ndarray], detector, every: int) -> list[list[tuple]]:
    """Boxes faceveil anonymizes per frame: key-frame detection + look-ahead tracker, as in the video pipeline."""
    from faceveil.faces.keyframe import KeyframeConfig, KeyframeDetector, required_lookahead
    from faceveil.faces.track import LookaheadTracker

    config = KeyframeConfig(every=every)
    keyed = KeyframeDetector(detector, config)
    tracker = LookaheadTracker(lookahead=max(2, required_lookahead(config)))
    released = []
    for i, rgb in enumerate(frames):
        released += tracker.push(keyed.detect(rgb), i)
    released += tracker.flush()
    return [[tf.face.box for tf in faces] for _, faces in released]


def bench_video(args) -> str:
    import deface.deface as dd

    from faceveil.crypto.keys import X25519Identity
    from faceveil.eval.scenes import moving_clip, recall
    from faceveil.faces.detect import CenterFaceDetector
    from faceveil.pipeline.video import VideoOptions, anonymize_video

    samples = sample_faces()
    centerface = deface_session()
    detector = CenterFaceDetector()
    recipient = X25519Identity.generate().recipient
    width, height = 1280, 720
    clip = moving_clip(samples, (height, width), args.frames, faces=3, face_width=110, seed=3)
    rows, recall_rows = [], []
    with tempfile.TemporaryDirectory(prefix="faceveil-speed-") as tmp:
        tmp = Path(tmp)
        src = write_clip(tmp / "clip.mp4", clip.frames)
        frames = decoded(src)

        def faceveil_run(every: int):
            return lambda: anonymize_video(src, tmp / f"fv{every}.mp4", method="mosaic", detector=detector, overwrite=True,
                                           recipients=[recipient], options=VideoOptions(payload="sidecar", detect_every=every))

        def deface_run():
            with quiet():
                dd.video_detect(str(src), str(tmp / "df.mp4"), centerface, threshold=0.2, enable_preview=False, cam=False,
                                nested=False, replacewith="blur", mask_scale=1.3, ellipse=True, draw_scores=False,
                                ffmpeg_config={"codec": "libx264"})

        fns = {"faceveil (key frames every 3)": faceveil_run(3), "faceveil (every frame)": faceveil_run(1), "deface": deface_run}
        times = interleaved(fns, args.repeats)
        base = med(times["deface"])
        for name, t in times.items():
            rows.append([name, f"{len(frames) / med(t):.2f}", spread([len(frames) / x for x in t]), f"{base / med(t):.2f}x"])

        reference = [detector.detect(rgb) for rgb in frames]
        boxes = {
            "reference: faceveil full-res detection on every frame": [[f.box for f in r] for r in reference],
            "faceveil, key frames every 3 (default)": track_boxes(frames, detector, 3),
            "faceveil, detection every frame": track_boxes(frames, detector, 1),
            "deface (its detections)": [[tuple(d[:4]) for d in centerface(rgb, threshold=0.2)[0]] for rgb in frames],
        }
        for name, found in boxes.items():
            recall_rows.append([name, f"{recall(clip.truths, found):.3f}", f"{recall(reference, found):.3f}"])
    pairs = sum(len(t) for t in clip.truths)
    return (f"machine: {machine()}\n720p clip, {len(frames)} frames at 25 fps, H.264; 3 moving faces (~110 px) + one popping in at "
            f"1/3 and one leaving at 2/3 ({pairs} face-frames). faceveil: mosaic + encrypted sidecar payload, H.264 CRF 18; "
            f"deface: blur, H.264. Interleaved, {args.repeats} rounds after a warm-up.\n\n"
            + table(["tool", "fps (median)", "fps min-max", "vs deface"], rows) + "\n\n"
            + table(["boxes", "recall vs true faces", "recall vs reference detections"], recall_rows))


# -- learned ----------------------------------------------------------------------------------------

def bench_learned(args) -> str:
    import torch

    from faceveil.methods.proface_s import fast
    from faceveil.methods.proface_s.checkpoint import load_proface_s
    from faceveil.methods.proface_s.method import resolve_weights, to_uint8

    torch.set_num_threads(os.cpu_count() or 1)
    net = load_proface_s(resolve_weights(None), "cpu").eval()
    fast.onnx_sessions(net)  # export once, outside the timings
    rows = []
    g = torch.Generator().manual_seed(0)
    for batch in args.batches:
        original = torch.rand(batch, 3, 256, 256, generator=g) * 2 - 1
        cover = torch.nn.functional.avg_pool2d(original, 9, 1, 4)
        key = torch.randint(0, 2, (batch, 1, 256, 256), generator=g).float() * 2 - 1

        def reference():
            with torch.no_grad():
                return net.protect(original, cover, key)

        fns = {"reference": reference, "trimmed torch": lambda: fast.protect(net, original, cover, key, "torch"),
               "fast (onnxruntime)": lambda: fast.protect(net, original, cover, key, "onnx")}
        times = interleaved(fns, args.repeats)
        ref_u8 = np.stack(to_uint8(reference()))
        protected = fast.protect(net, original, cover, key, "onnx")
        recov_ref = np.stack(to_uint8(net.recover(protected, key).detach()))
        recov_fast = np.stack(to_uint8(fast.recover(net, protected, key, "onnx")))
        for name, t in times.items():
            out = np.stack(to_uint8(fns[name]()))
            diff = np.abs(out.astype(int) - ref_u8)
            rows.append([f"PRO-Face S protect, batch {batch}", name, f"{med(t) / batch:.3f}", f"{med(times['reference']) / med(t):.2f}x",
                         f"max {diff.max()}, {100 * (diff == 0).mean():.2f} % identical"])
        rdiff = np.abs(recov_fast.astype(int) - recov_ref)
        rows.append([f"PRO-Face S recover, batch {batch}", "fast vs reference output", "-", "-",
                     f"max {rdiff.max()}, {100 * (rdiff == 0).mean():.2f} % identical"])
    if args.g2face:
        rows += g2face_rows(args)
    head = ["work (256 px faces)", "path", "s per face (median)", "vs reference", "uint8 output vs reference"]
    return (f"machine: {machine()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; interleaved, {args.repeats} rounds.\n\n"
            + table(head, rows))


def g2face_rows(args) -> list[list]:
    """G2Face generator (published architecture, random weights: speed does not depend on the values):
    eager fused reference vs activation form (torch) vs activation form under onnxruntime."""
    import torch

    from faceveil.methods.g2face import fast
    from faceveil.methods.g2face.checkpoint import G2FaceNetworks
    from faceveil.methods.g2face.generator import make_noise

    torch.manual_seed(0)
    gen = G2FaceNetworks.create().eval().generator
    cfg, rows = gen.config, []
    quick = fast.fast_generator(gen)
    for batch in args.batches:
        g = torch.Generator().manual_seed(batch)
        x = torch.rand(batch, 3, cfg.size, cfg.size, generator=g) * 2 - 1
        styles = torch.randn(batch, cfg.n_latent, cfg.style_dim, generator=g)
        bits = torch.randint(0, 2, (batch, cfg.n_bits), generator=g).float()
        noise = [torch.randn(batch, *n.shape[1:], generator=g) for n in make_noise(cfg)]
        session = fast.onnx_session(gen, (x, styles, bits, *noise))  # export once, outside the timings
        with torch.no_grad():
            fns = {"reference (fused modconv)": lambda: gen(x, styles, bits, noise=noise),
                   "activation form (torch)": lambda: quick(x, styles, bits, noise=noise),
                   "activation form (onnxruntime)": lambda: fast.run_onnx(session, x, styles, bits, noise)}
            times = interleaved(fns, args.repeats)
            ref = ((fns["reference (fused modconv)"]().clamp(-1, 1) + 1) * 127.5).round()
            for name, t in times.items():
                out = ((fns[name]().clamp(-1, 1) + 1) * 127.5).round()
                diff = (out - ref).abs()
                rows.append([f"G2Face generator, batch {batch}", name, f"{med(t) / batch:.3f}",
                             f"{med(times['reference (fused modconv)']) / med(t):.2f}x",
                             f"max {int(diff.max())}, {100 * float((diff == 0).float().mean()):.2f} % identical"])
    return rows


# -- growth -----------------------------------------------------------------------------------------

MEGAPIXELS = {0.3: (480, 640), 1: (866, 1155), 4: (1732, 2309), 12: (3000, 4000), 24: (4000, 6000)}
VIDEO_SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920), "4K": (2160, 3840)}


def bench_growth(args) -> str:
    from faceveil.api import Anonymizer, make_recipients
    from faceveil.crypto.keys import X25519Identity
    from faceveil.eval.scenes import collage, grid_placements, moving_clip
    from faceveil.faces.detect import CenterFaceDetector
    from faceveil.pipeline.video import VideoOptions, anonymize_video

    samples = sample_faces()
    anonymizer = Anonymizer(method="mosaic", recipients=make_recipients(passphrase="bench"), payload="embedded")
    out = [f"machine: {machine()}\nfaceveil only (mosaic + encrypted payload, JPEG in/out); median of {args.repeats} runs after a warm-up.\n"]
    with tempfile.TemporaryDirectory(prefix="faceveil-speed-") as tmp:
        tmp = Path(tmp)

        def photo_time(rgb, name):
            src = write_image(tmp / f"{name}.jpg", rgb)
            fn = lambda: anonymizer.process_file(src, tmp / f"{name}.out.jpg", overwrite=True)  # noqa: E731
            return med(interleaved({"x": fn}, args.repeats)["x"])

        rows, base = [], None
        for mp, size in MEGAPIXELS.items():
            rgb, _ = collage(samples, grid_placements(size, 6, size[1] / 12, seed=1), size=size, seed=1)
            t = photo_time(rgb, f"mp{mp}")
            base = base or t / mp
            rows.append([f"{size[1]}x{size[0]} ({mp} MP)", f"{t:.2f}", f"{t / mp:.3f}", f"{t / mp / base:.2f}"])
        out.append("Photos, 6 faces, time vs megapixels\n\n" + table(["photo", "s", "s per MP", "s per MP vs 0.3 MP"], rows))

        rows, base = [], None
        for count in (1, 6, 30):
            size = (1080, 1920)
            rgb, _ = collage(samples, grid_placements(size, count, 150, seed=2), size=size, seed=2)
            t = photo_time(rgb, f"faces{count}")
            base = base or t
            rows.append([count, f"{t:.2f}", f"{t / base:.2f}"])
        out.append("Photos, 1920x1080, time vs face count\n\n" + table(["faces", "s", "vs 1 face"], rows))

        rows, base = [], None
        detector = CenterFaceDetector()
        recipient = X25519Identity.generate().recipient
        for label, (h, w) in VIDEO_SIZES.items():
            clip = moving_clip(samples, (h, w), args.frames, faces=2, face_width=h / 6, seed=4)
            src = write_clip(tmp / f"{label}.mp4", clip.frames)
            fn = lambda src=src, label=label: anonymize_video(  # noqa: E731
                src, tmp / f"{label}.out.mp4", method="mosaic", detector=detector, overwrite=True, recipients=[recipient],
                options=VideoOptions(payload="sidecar"))
            t = med(interleaved({"x": fn}, args.repeats)["x"])
            mpx = h * w / 1e6
            base = base or t / args.frames / mpx
            rows.append([f"{label} ({w}x{h})", f"{args.frames / t:.2f}", f"{t / args.frames / mpx * 1000:.0f}",
                         f"{t / args.frames / mpx / base:.2f}"])
        out.append(f"Video, {args.frames} frames, 2 moving faces + one popping in, default options (key frames every 3)\n\n"
                   + table(["resolution", "fps", "ms per frame per MP", "per-MP cost vs 480p"], rows))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["photos", "video", "learned", "growth"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=None, help="video clip length (video: 50, growth: 15)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="learned: batch sizes")
    parser.add_argument("--g2face", action="store_true", help="learned: also the G2Face generator (slow: ~1 min export)")
    args = parser.parse_args(argv)
    if args.frames is None:
        args.frames = 50 if args.table == "video" else 15
    sys.path.insert(0, str(REPO))
    print({"photos": bench_photos, "video": bench_video, "learned": bench_learned, "growth": bench_growth}[args.table](args))


if __name__ == "__main__":
    main()
