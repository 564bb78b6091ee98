"""Video sizes: recovery payload MB/min per payload coding, and lossless output size per container.

    .venv/bin/python benchmarks/bench_sizes.py                 # 720p, 4 s, moving and still face
    .venv/bin/python benchmarks/bench_sizes.py --seconds 2 --size 1280x720

Same generated clips as benchmarks/bench_video.py (astronaut face ~45 % of the frame height, sensor noise
std 2, H.264 CRF 20 source; moving face, still face, and a still face filmed handheld: the whole frame
drifts and shakes by sub-pixel amounts up to ~3 px; and the moving face as a web-quality ~1.5 Mbps source,
noise std 0.5, CRF 28; ``--scenes`` picks some), anonymized with the CLI's default mask (ellipse at --mask-scale 1.3;
``--api-mask``: the API's box). For each clip: the payload of a mosaic run (lossy CRF 18 output) written with
region coding 1 (per-frame FFV1 / temporal zlib, payload version 1), region coding 2 (adds per-track
lossless H.264 streams, version 2), the source coding (the input's compressed packets + a digest per
region, version 3; `--payload-coding source`) and `auto` (the default: the smaller of coding 1 and the
source coding), each recovered once (time reported; recovery checks every region); then `--lossless`
outputs (.mkv FFV1, .mp4 libx264rgb) and their size relative to the source.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--scenes", default=None, help="comma list of clip names (default: all)")
    parser.add_argument("--no-lossless", action="store_true", help="skip the lossless output rows")
    parser.add_argument("--api-mask", action="store_true",
                        help="the Python API's default region (box with faceveil's margin) instead of the CLI's "
                             "default mask (ellipse, --mask-scale 1.3), which the other rows use")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from faceveil.crypto.keys import X25519Identity
    from faceveil.faces.detect import create_detector
    from faceveil.faces.mask import MaskSpec
    from faceveil.pipeline.options import FaceOptions
    from faceveil.io.video import EncodeOptions
    from faceveil.pipeline.video import VideoOptions, anonymize_video, recover_video
    from faceveil.pipeline.video_payload import VideoPayloadWriter
    from faceveil.testing import write_synthetic_clip

    detector = create_detector("centerface")
    faces = FaceOptions() if args.api_mask else FaceOptions(mask=MaskSpec("ellipse", 1.3), box_for_pixel_recovery=True)
    identity = X25519Identity.generate()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenes = {  # name: (moving, shake, sensor noise std, source CRF)
            "moving face": (True, 0.0, 2.0, 20), "still face": (False, 0.0, 2.0, 20), "handheld": (False, 3.0, 2.0, 20),
            # a web-quality source (~1 Mbps at 720p, like the clip issue 14 measured: 0.57 MB for 4 s)
            "moving face (web-quality source)": (True, 0.0, 0.5, 28),
        }
        chosen = [s.strip() for s in args.scenes.split(",")] if args.scenes else list(scenes)
        for scene in chosen:
            moving, shake, noise, crf = scenes[scene]
            clip = write_synthetic_clip(work / f"{scene[:5]}{crf}.mp4", size=(width, height), seconds=args.seconds,
                                        face_height=int(0.45 * height), noise=noise, crf=crf, moving=moving, shake=shake)
            minutes = clip.frames / clip.fps / 60
            source_mb = clip.path.stat().st_size / 1e6
            rows.append((scene, f"source (H.264 CRF {crf}, noise {noise:g})", source_mb, source_mb / minutes, ""))
            regions_mb = None
            for label, coding, region_coding in (("region coding 1", "regions", 1), ("region coding 2", "regions", 2),
                                                 ("source coding", "source", 1), ("auto (default)", "auto", 1)):
                out = work / f"{scene[:5]}{crf}-{coding}{region_coding}.mp4"
                defaults = list(VideoPayloadWriter.__init__.__defaults__)
                defaults[-1] = region_coding  # (chunk_frames, region_coding)
                t = time.perf_counter()
                with mock.patch.object(VideoPayloadWriter.__init__, "__defaults__", tuple(defaults)):
                    report = anonymize_video(clip.path, out, method="mosaic", detector=detector, overwrite=True,
                                             recipients=[identity.recipient], faces=faces,
                                             options=VideoOptions(payload="sidecar", payload_coding=coding))
                seconds = time.perf_counter() - t
                t = time.perf_counter()
                recover_video(out, work / "back.mkv", [identity], overwrite=True)
                recover_s = time.perf_counter() - t
                size = Path(str(out) + ".faceveil").stat().st_size / 1e6
                regions_mb = size if label == "region coding 1" else regions_mb
                ratio = f", {regions_mb / size:.2f}x smaller than coding 1" if label != "region coding 1" else ""
                rows.append((scene, f"payload, {label} -> {report.payload_coding}", size, size / minutes,
                             f"payload {report.timings['payload'] / report.frames * 1000:.0f} ms/frame, run {seconds:.1f} s, "
                             f"recover {recover_s:.1f} s{ratio}"))
            if args.no_lossless:
                continue
            for suffix in (".mkv", ".mp4"):
                out = work / f"{scene[:5]}{crf}-lossless{suffix}"
                report = anonymize_video(clip.path, out, method="mosaic", detector=detector, overwrite=True,
                                         recipients=[identity.recipient], faces=faces,
                                         options=VideoOptions(payload="sidecar", encode=EncodeOptions(lossless=True)))
                size = out.stat().st_size / 1e6
                rows.append((scene, f"--lossless {suffix} ({report.codec})", size, size / minutes,
                             f"{size / source_mb:.0f}x the source"))
    print(f"| clip ({width}x{height}, {args.seconds:g} s) | what | MB | MB/min | note |")
    print("|---|---|---:|---:|---|")
    for scene, what, mb, per_min, note in rows:
        print(f"| {scene} | {what} | {mb:.2f} | {per_min:.1f} | {note} |")


if __name__ == "__main__":
    main()
